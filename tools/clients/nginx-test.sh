#!/bin/sh
# nginx-test.sh - the nginx load test that tools/clients/nginx.sh runs on the
# host and in the VM guest (POSIX sh: the guest has busybox only).
#
# Usage: nginx-test.sh PREFIX METHOD PORT REQUESTS
#        nginx-test.sh PREFIX METHOD PORT start|stop
#   PREFIX    an nginx install tree (sbin/nginx); a config, the files it
#             serves and its logs are written there
#   METHOD    the events method: kqueue or epoll ("use METHOD;")
#   PORT      the front server listens on 127.0.0.1:PORT, the back end
#             (a second server block) on PORT+1
#   REQUESTS  requests per ab run
#   start     only write the config and the files, start nginx and leave
#             it running (tools/clients/nginx-bench.sh; stop it with
#             "stop")
#   stop      stop the nginx that "start" left running; fails if it does
#             not stop or its error log has an [alert], [crit] or [emerg]
#
# Two workers (or NGINX_WORKERS from the environment); NGINX_REUSEPORT=1
# gives the front server "listen ... reuseport" (one listening socket per
# worker, the kernel spreading the connections).  The front server
# serves a 1000-byte and a 200000-byte file itself and the same two files
# from the back end through proxy_pass (an upstream with keepalive
# connections); each of the four URLs is loaded by
# ab (50 concurrent) without and with HTTP keep-alive.  ab counts a
# response whose length differs from the first one, or a broken connection,
# as failed; a case passes with every request complete, 0 failed, no non-2xx
# status and the expected document length.  Prints one line per case:
#   NGINX-CASE METHOD URL ka=0|1 ok|FAIL complete=N failed=N non2xx=N len=N rps=R
# and exits 1 if a case failed, nginx did not start or stop, or its error
# log has an [alert], [crit] or [emerg] line.
set -u
P=$1 M=$2 port=$3 n=$4
back=$((port + 1))
AB=${AB:-ab}
rc=0

# stop_nginx: graceful stop (30 s at most), then a look at the error log
stop_nginx() {
	pid=$(cat "$P/logs/nginx.pid")
	kill -QUIT "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "NGINX-STOP-FAILED $M"
			kill -KILL "$pid"
			return 1
		fi
		sleep 0.1
	done
	if grep -E '\[(alert|crit|emerg)\]' "$P/logs/error.log"; then
		echo "NGINX-ERRORLOG $M"
		return 1
	fi
	return 0
}

if [ "$n" = stop ]; then
	stop_nginx
	exit
fi

mkdir -p "$P/conf" "$P/logs" "$P/html" "$P/back"
: > "$P/logs/error.log"
head -c 1000 /dev/zero | tr '\0' a > "$P/back/small.html"
head -c 200000 /dev/urandom > "$P/back/big.bin"
cp "$P/back/small.html" "$P/back/big.bin" "$P/html/"

cat > "$P/conf/test.conf" <<EOF
worker_processes ${NGINX_WORKERS:-2};
user root root;
error_log logs/error.log warn;
pid logs/nginx.pid;
env KQUEUE_BACKEND;
events {
    use $M;
    worker_connections 1024;
}
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000;
    upstream back {
        server 127.0.0.1:$back;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:$port$([ "${NGINX_REUSEPORT:-0}" = 1 ] && echo ' reuseport');
        root $P/html;
        location /p/ {
            proxy_pass http://back/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$back;
        root $P/back;
    }
}
EOF

if ! "$P/sbin/nginx" -p "$P/" -c conf/test.conf; then
	echo "NGINX-START-FAILED $M"
	cat "$P/logs/error.log"
	exit 1
fi
sleep 1
[ "$n" = start ] && exit 0
# in the VM: the module's live kqueues (two workers: at least 2 with kqueue)
kq=/sys/module/kqueue/parameters/nr_kqueues
[ -r $kq ] && echo "NGINX-KQ $M nr_kqueues=$(cat $kq)"

for url in /small.html /big.bin /p/small.html /p/big.bin; do
	case $url in
	*small*) want=1000 ;;
	*) want=200000 ;;
	esac
	for ka in 0 1; do
		k=
		[ $ka = 1 ] && k=-k
		out=$("$AB" -q -n "$n" -c 50 $k "http://127.0.0.1:$port$url" 2>&1)
		complete=$(echo "$out" | sed -n 's/^Complete requests: *//p')
		failed=$(echo "$out" | sed -n 's/^Failed requests: *//p')
		non2xx=$(echo "$out" | sed -n 's/^Non-2xx responses: *//p')
		len=$(echo "$out" | sed -n 's/^Document Length: *\([0-9]*\).*/\1/p')
		rps=$(echo "$out" | sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p')
		v=ok
		[ "${complete:-x}" = "$n" ] && [ "${failed:-x}" = 0 ] &&
			[ -z "$non2xx" ] && [ "${len:-x}" = "$want" ] || v=FAIL
		echo "NGINX-CASE $M $url ka=$ka $v complete=${complete:-?} failed=${failed:-?} non2xx=${non2xx:-0} len=${len:-?} rps=${rps:-0}"
		if [ $v = FAIL ]; then
			rc=1
			echo "$out" | tail -n 30
		fi
	done
done

stop_nginx || rc=1
exit $rc
