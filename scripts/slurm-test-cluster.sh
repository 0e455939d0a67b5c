#!/usr/bin/env bash
# A single-node Slurm cluster for the Slurm executor's tests (tests/slurm.rs):
# this machine is the controller and the one compute node (2 CPUs).
#
#   scripts/slurm-test-cluster.sh start   install slurm-wlm and munge if missing
#                                          (apt-get, as root), write slurm.conf,
#                                          start munged, slurmctld, slurmd and
#                                          wait until `sinfo` shows the node idle
#   scripts/slurm-test-cluster.sh stop    stop the three daemons
#   scripts/slurm-test-cluster.sh status  sinfo
#
# Meant for a throwaway CI machine or container: it overwrites
# /etc/slurm/slurm.conf. Needs root.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/spool/slurm-synthmix-test
RUN=/run/slurm-synthmix-test

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "slurm-test-cluster: must run as root (it installs packages and starts daemons)" >&2
        exit 1
    fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=${SLURM_TEST_CPUS:-2}
    # Leave 512 MiB to the system; --mem requests must fit in RealMemory.
    mem=$(awk '/MemTotal/ {m=int($2/1024)-512; if (m<256) m=256; print m}' /proc/meminfo)
    mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$RUN"
    cat >"$CONF_DIR/slurm.conf" <<CONF
# Written by scripts/slurm-test-cluster.sh: a single-node test cluster.
ClusterName=synthmix-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
KillWait=5
SchedulerParameters=sched_interval=2
# Small, so that the array tests see a matrix split (task ids run 0..7).
MaxArraySize=8
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    # No cgroup.conf: slurmd autodetects the cgroup version (none of the
    # plugins configured here uses cgroups).
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if ! pgrep -x munged >/dev/null; then
        if id munge >/dev/null 2>&1; then
            runuser -u munge -- munged
        else
            munged --force
        fi
    fi
}

wait_idle() {
    local i state
    for i in $(seq 1 60); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
        case "$state" in
        idle | mix | alloc)
            echo "slurm-test-cluster: node $(hostname -s) is $state"
            return 0
            ;;
        down* | drain* | inval*)
            scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
            ;;
        esac
        sleep 1
    done
    echo "slurm-test-cluster: the node did not become idle in 60 s (sinfo: ${state:-no answer}); see $STATE/*.log" >&2
    return 1
}

start() {
    need_root
    install_packages
    write_conf
    start_munge
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    wait_idle
}

stop_daemon() {
    local pidfile=$RUN/$1.pid pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    fi
    rm -f "$pidfile"
}

stop() {
    need_root
    stop_daemon slurmd
    stop_daemon slurmctld
    # munged: only the one started here (its pid file under /run/munge).
    local pid
    pid=$(cat /run/munge/munged.pid 2>/dev/null || true)
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
    fi
    echo "slurm-test-cluster: stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) sinfo ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
