#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, to try the recipes' --cmd slurm:
#   sudo tools/slurm_local.sh install   # apt-get: slurmctld slurmd slurm-client munge
#   sudo tools/slurm_local.sh start     # munged + slurmctld + slurmd, partition "local"
#   tools/slurm_local.sh status         # sinfo
#   sudo tools/slurm_local.sh stop
# The node gets this machine's CPUs and memory; no cgroups (containers lack them):
# proctrack/linuxproc, task/none, no accounting. Configuration in /etc/slurm,
# state under /var/spool/slurm*, logs in /var/log/slurm*.log. Not for production.
set -euo pipefail

conf=/etc/slurm/slurm.conf
host=$(hostname -s)

install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    slurmctld slurmd slurm-client munge
}

write_conf() {
  local cpus mem_mb
  cpus=$(nproc)
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log
  cat > "$conf" <<CONF
# written by tools/slurm_local.sh: one node, this machine
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurmctld.log
SlurmdLogFile=/var/log/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  echo "wrote $conf ($cpus CPUs, $mem_mb MB on $host)"
}

start() {
  [ -f /etc/munge/munge.key ] || mungekey --create 2>/dev/null || \
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  pgrep -x munged > /dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force
  write_conf
  pgrep -x slurmctld > /dev/null || slurmctld
  pgrep -x slurmd > /dev/null || slurmd
  for _ in $(seq 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      sinfo; return 0
    fi
    sleep 1
  done
  echo "slurm did not come up: see /var/log/slurmctld.log and /var/log/slurmd.log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  pkill -x slurmd || true
  pkill -x slurmctld || true
  pkill -x munged || true
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
