#!/usr/bin/env bash
# Captures real auditd records of fwknopd adding and removing a rule after an SPA packet (run as root).
set -u
W=/tmp/kwaudit
R=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
C=kwc$R S=kws$R
OUT=$W/audit-fwknopd.log
rm -f $OUT $W/fw.pid $W/fw.digest
mkdir -p $W/conf2 $W/fw $W/home
sed -e "s|^log_file = .*|log_file = $OUT|" -e "s|^log_format = .*|log_format = RAW|" \
    -e "s|^name_format = .*|name_format = HOSTNAME|" -e "s|^log_group = .*|log_group = root|" \
    -e "s|^space_left_action = .*|space_left_action = ignore|" -e "s|^admin_space_left_action = .*|admin_space_left_action = ignore|" \
    -e "s|^disk_full_action = .*|disk_full_action = ignore|" -e "s|^disk_error_action = .*|disk_error_action = ignore|" \
    -e "s|^space_left = .*|space_left = 2|" -e "s|^admin_space_left = .*|admin_space_left = 1|" \
    /etc/audit/auditd.conf > $W/conf2/auditd.conf
KEY=$(head -c 32 /dev/urandom | base64 -w0); HKEY=$(head -c 64 /dev/urandom | base64 -w0)
cat > $W/fw/access.conf <<A
SOURCE              ANY
OPEN_PORTS          tcp/22
KEY_BASE64          $KEY
HMAC_KEY_BASE64     $HKEY
FW_ACCESS_TIMEOUT   2
A
chmod 600 $W/fw/access.conf
cat > $W/fw/fwknopd.conf <<F
PCAP_INTF           kwb$R
ENABLE_PCAP_PROMISC N
FIREWALL_EXE        /usr/sbin/iptables
F
chmod 600 $W/fw/fwknopd.conf
cleanup() {
  auditctl -D >/dev/null 2>&1; auditctl -e 0 >/dev/null 2>&1
  [ -f $W/fw.pid ] && kill $(cat $W/fw.pid) 2>/dev/null
  [ -n "${APID:-}" ] && kill $APID 2>/dev/null
  sleep 0.5
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
trap cleanup EXIT
auditd -n -c $W/conf2 & APID=$!
sleep 1
auditctl -e 1 >/dev/null
auditctl -a always,exit -F arch=b64 -S execve -F auid=4242 -k kw-exec >/dev/null
ip netns add $C; ip netns add $S
ip link add kwa$R netns $C type veth peer name kwb$R netns $S
ip -n $C addr add 192.0.2.7/24 dev kwa$R; ip -n $C link set kwa$R up; ip -n $C link set lo up
ip -n $S addr add 192.0.2.10/24 dev kwb$R; ip -n $S link set kwb$R up; ip -n $S link set lo up
bash -s <<SCRIPT
echo 4242 > /proc/self/loginuid
ip netns exec $S /usr/sbin/fwknopd -f -c $W/fw/fwknopd.conf -a $W/fw/access.conf -d $W/fw.digest -p $W/fw/fwknopd.pid -i kwb$R > $W/fwknopd.out 2>&1 & echo \$! > $W/fw.pid
sleep 2
HOME=$W/home ip netns exec $C fwknop -A tcp/22 -a 192.0.2.7 -D 192.0.2.10 --key-base64-rijndael $KEY --key-base64-hmac $HKEY --use-hmac --no-save-args
sleep 4
SCRIPT
sleep 1
