#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, to try the workflow's SLURM profile for real
# (docs/slurm.md). Debian 12's slurm-wlm and munge; no systemd needed: the daemons are started
# directly and stopped by the process ids in their pid files. Idempotent: run it again and it
# rewrites the same config and starts only what is not running.
#
#   scripts/slurm_local_cluster.sh start           install, configure, start, wait for the node
#   scripts/slurm_local_cluster.sh run DIR [ARGS]  start, then `snakemake --profile
#                                                  profiles/slurm ARGS` in the project folder DIR
#   scripts/slurm_local_cluster.sh status          sinfo and squeue
#   scripts/slurm_local_cluster.sh stop            stop slurmd, slurmctld and munged
#
# Needs root (apt-get, /etc/slurm). The venv whose bin/ goes first on PATH for `run` is $VENV,
# default /tmp/venv; it must have the project and snakemake-executor-plugin-slurm installed
# (pip install -e ".[cluster]").
#
# Accounting is off (accounting_storage/none, no slurmdbd), so `sacct` has nothing to answer
# with. `run` therefore passes the plugin's setting for such a cluster:
#   --slurm-status-command squeue   job states from slurmctld; MinJobAge=600 below keeps a
#                                   finished job visible to squeue for 10 minutes
# There is no account: the plugin (2.8.0) warns that it cannot guess one from sacct and submits
# without -A, as wanted. Its --slurm-no-account flag is accepted but not read by that version.
# Completed jobs are still recorded, one line each, by jobcomp/filetxt in $JOBCOMP_LOG, and a
# squeue snapshot is appended to .snakemake/slurm_squeue.log in DIR every 2 s during the run.
set -euo pipefail

VENV=${VENV:-/tmp/venv}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm
RUN_DIR=/run/slurm
MUNGE_RUN=/run/munge
JOBCOMP_LOG=$LOG_DIR/job_completions.txt
PARTITION=debug

say() { printf '[slurm_local_cluster] %s\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        say "must run as root (apt-get, /etc/slurm, daemons)"
        exit 1
    fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # Without systemd the packages' postinst cannot start the services; that is expected.
    apt-get install -y -q --no-install-recommends slurm-wlm munge
}

munge_key() {
    local key=/etc/munge/munge.key
    if [ ! -s "$key" ]; then
        say "creating $key"
        install -d -o munge -g munge -m 0700 /etc/munge
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$key" --force
        else
            dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge "$key"
    chmod 0400 "$key"
}

write_config() {
    local host node_line tmp
    host=$(hostname -s)
    # `slurmd -C` prints this machine's node line: CPUs, sockets, cores, threads, RealMemory.
    node_line=$(slurmd -C | head -n1)
    case $node_line in
        NodeName=*) ;;
        *) say "unexpected output from slurmd -C: $node_line"; exit 1 ;;
    esac
    install -d -m 0755 "$CONF_DIR"
    install -d -o slurm -g slurm -m 0755 "$LOG_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd" \
        "$RUN_DIR"
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
# Written by scripts/slurm_local_cluster.sh: a single-node cluster on this machine.
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups in a container: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# No accounting database: squeue answers the executor's status queries, and keeps a finished
# job for MinJobAge seconds (the plugin wants at least 3x its first status-check interval).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP_LOG
MinJobAge=600
# The node and the one partition: the machine's CPUs and memory as slurmd -C reports them.
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        CONFIG_CHANGED=0
    else
        say "writing $CONF"
        install -m 0644 "$tmp" "$CONF"
        rm -f "$tmp"
        CONFIG_CHANGED=1
    fi
}

# The live process of a pid file, if any.
pid_of() {
    local file=$1 name=$2 pid
    [ -s "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    echo "$pid"
}

start_munge() {
    if pid_of "$MUNGE_RUN/munged.pid" munged >/dev/null; then
        return
    fi
    say "starting munged"
    install -d -o munge -g munge -m 0755 "$MUNGE_RUN" /var/log/munge /var/lib/munge
    runuser -u munge -- munged
    for _ in $(seq 1 50); do
        munge -n </dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.2
    done
    say "munged does not answer"
    exit 1
}

start_slurm() {
    if [ "${CONFIG_CHANGED:-0}" = 1 ]; then
        # A changed slurm.conf needs fresh daemons (the node's CPUs or memory may differ).
        stop_daemon slurmd "$RUN_DIR/slurmd.pid"
        stop_daemon slurmctld "$RUN_DIR/slurmctld.pid"
    fi
    if ! pid_of "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null; then
        say "starting slurmctld"
        slurmctld
    fi
    for _ in $(seq 1 50); do
        scontrol ping 2>/dev/null | grep -q 'is UP' && break
        sleep 0.2
    done
    if ! pid_of "$RUN_DIR/slurmd.pid" slurmd >/dev/null; then
        say "starting slurmd"
        slurmd
    fi
}

wait_idle() {
    local host state
    host=$(hostname -s)
    for i in $(seq 1 60); do
        state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n1)
        case $state in
            idle | mixed | allocated) say "node $host is $state"; sinfo; return ;;
            down* | drain* | fail*)
                # Left over from an earlier start (e.g. a restart of slurmd): bring it back.
                scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 1
        [ "$i" = 60 ] && break
    done
    say "node $host did not become idle; see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log"
    sinfo -N -l || true
    exit 1
}

stop_daemon() {
    local name=$1 file=$2 pid
    if pid=$(pid_of "$file" "$name"); then
        say "stopping $name ($pid)"
        kill "$pid"
        for _ in $(seq 1 50); do
            [ -d "/proc/$pid" ] || break
            sleep 0.2
        done
    fi
    rm -f "$file"
}

start() {
    need_root
    install_packages
    munge_key
    write_config
    start_munge
    start_slurm
    wait_idle
}

stop() {
    need_root
    stop_daemon slurmd "$RUN_DIR/slurmd.pid"
    stop_daemon slurmctld "$RUN_DIR/slurmctld.pid"
    stop_daemon munged "$MUNGE_RUN/munged.pid"
}

run() {
    local dir=${1:?usage: $0 run PROJECT_DIR [SNAKEMAKE_ARGS...]}
    shift
    start
    cd "$dir"
    [ -f profiles/slurm/config.yaml ] || { say "no profiles/slurm/config.yaml in $dir"; exit 1; }
    export PATH="$VENV/bin:$PATH"
    mkdir -p .snakemake
    # Evidence that the jobs went through SLURM: the queue every 2 s while Snakemake runs.
    local watch_log=.snakemake/slurm_squeue.log watcher rc=0
    (
        while :; do
            { date '+%F %T'; squeue -o '%.8i %.10P %.40j %.60k %.8T %.10M %R'; } >>"$watch_log"
            sleep 2
        done
    ) &
    watcher=$!
    say "snakemake --profile profiles/slurm in $dir (squeue snapshots in $dir/$watch_log)"
    snakemake --profile profiles/slurm \
        --slurm-status-command squeue \
        --slurm-init-seconds-before-status-checks 5 \
        --slurm-keep-successful-logs \
        "$@" || rc=$?
    kill "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    return "$rc"
}

case ${1:-start} in
    start) start ;;
    run) shift; run "$@" ;;
    status) sinfo; squeue ;;
    stop) stop ;;
    *) echo "usage: $0 {start|run PROJECT_DIR [SNAKEMAKE_ARGS...]|status|stop}" >&2; exit 2 ;;
esac
