#!/usr/bin/env bash
# Captures real auditd records of knock-client command lines (run as root).
set -u
W=/tmp/kwaudit
R=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
C=kwc$R S=kws$R
FORMAT=${1:-ENRICHED}
OUT=$W/audit-$FORMAT.log
rm -f $OUT
mkdir -p $W/conf $W/etc/fwknop $W/home
sed -e "s|^log_file = .*|log_file = $OUT|" -e "s|^log_format = .*|log_format = $FORMAT|" \
    -e "s|^name_format = .*|name_format = ${NAMEFMT:-NONE}|" -e "s|^log_group = .*|log_group = root|" \
    -e "s|^space_left_action = .*|space_left_action = ignore|" -e "s|^admin_space_left_action = .*|admin_space_left_action = ignore|" \
    -e "s|^disk_full_action = .*|disk_full_action = ignore|" -e "s|^disk_error_action = .*|disk_error_action = ignore|" \
    -e "s|^space_left = .*|space_left = 2|" -e "s|^admin_space_left = .*|admin_space_left = 1|" \
    /etc/audit/auditd.conf > $W/conf/auditd.conf
printf '[options]\n  LogFile = %s/knockd.log\n' $W > $W/etc/knockd.conf
echo 'SOURCE ANY' > $W/etc/fwknop/access.conf
cleanup() {
  auditctl -D >/dev/null 2>&1
  auditctl -e 0 >/dev/null 2>&1
  [ -n "${KPID:-}" ] && kill $KPID 2>/dev/null
  [ -n "${APID:-}" ] && kill $APID 2>/dev/null
  sleep 0.5
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
trap cleanup EXIT
auditd -n -c $W/conf & APID=$!
sleep 1
auditctl -e 1 >/dev/null
auditctl -a always,exit -F arch=b64 -S execve -F auid=4242 -k kw-exec >/dev/null
auditctl -w $W/etc/knockd.conf -p wa -k kw-knockd-conf >/dev/null
auditctl -w $W/etc/fwknop/access.conf -p wa -k kw-fwknop-conf >/dev/null

ip netns add $C; ip netns add $S
ip link add kwa$R netns $C type veth peer name kwb$R netns $S
ip -n $C addr add 192.0.2.7/24 dev kwa$R; ip -n $C link set kwa$R up; ip -n $C link set lo up
ip -n $S addr add 192.0.2.10/24 dev kwb$R; ip -n $S link set kwb$R up; ip -n $S link set lo up
cat > $W/knockd-door.conf <<K
[options]
  LogFile = $W/knockd.log
  Interface = kwb$R
[opencloseSSH]
  sequence    = 7000,8000,9000
  seq_timeout = 5
  tcpflags    = syn
  start_command = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
  cmd_timeout = 1
  stop_command  = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
K

# Everything below runs with loginuid 4242, so only it is audited.
bash -s <<SCRIPT
echo 4242 > /proc/self/loginuid
ip netns exec $S /usr/sbin/knockd -c $W/knockd-door.conf -i kwb$R & echo \$! > $W/knockd.pid
sleep 1
c() { ip netns exec $C "\$@"; }
c knock -v 192.0.2.10 7000 8000 9000
sleep 2.5
c knock -u -d 100 192.0.2.10 8284:udp 4721 18592:tcp
HOME=$W/home c fwknop -A tcp/22 -a 192.0.2.7 -D 192.0.2.10 --key-rijndael "correct horse" --no-save-args
HOME=$W/home c fwknop -A tcp/3389 -s -D 192.0.2.10 -P tcp -p 443 --key-rijndael secret123 --no-save-args
c hping3 -S -p 7000 -c 1 192.0.2.10
c hping3 -S -p 8000 -c 1 192.0.2.10
c hping3 -2 -p 9000 -c 1 192.0.2.10
c hping3 -s 80 -c 1 192.0.2.10
c hping3 --scan 1-1000 -S 192.0.2.10
c timeout 0.2 hping3 --flood -S -p 7000 192.0.2.10
c nping --tcp -p 7000,8000,9000 --flags syn -c 1 192.0.2.10
c nping --tcp -p 443 -c 1 192.0.2.10
c nmap -Pn -r --max-retries 0 -p 7000,8000,9000 192.0.2.10
for p in 7000 8000 9000; do c nmap -Pn --max-retries 0 -p \$p 192.0.2.10; done
c bash -c 'for p in 7000 8000 9000; do nc -z -w1 192.0.2.10 \$p; done'
c ncat -z 192.0.2.10 7000
c timeout 1 telnet 192.0.2.10 8000
c bash -c 'for p in 7000 8000 9000; do echo > /dev/tcp/192.0.2.10/\$p; done; : $(printf 'x%.0s' {1..7600})'
cat $W/etc/knockd.conf > /dev/null
grep knock $W/etc/knockd.conf > /dev/null
echo '[openSSH]' >> $W/etc/knockd.conf
sed -i 's/LogFile/logfile/' $W/etc/knockd.conf
echo 'SOURCE 192.0.2.0/24' > $W/etc/fwknop/access.conf
sleep 2
kill \$(cat $W/knockd.pid)
SCRIPT
sleep 1
