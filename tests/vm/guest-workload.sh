#!/bin/sh
# Guest workload for the VM migration lab (runs as /etc/guest-init inside the busybox guest,
# see tests/guest/build-guest.sh). Plain busybox ash, no file system on the disk.
#
# The disk /dev/vda holds SLOTS records of 1 MiB at offsets SLOT * 1 MiB. Record ID lives in
# slot (ID * 1000003) mod SLOTS, so every lap of SLOTS consecutive IDs rewrites every slot
# once, in a scrambled order. A record is a 512-byte header, the line
# "DLSM record ID slot SLOT offset BYTES" padded with spaces, followed by 1 MiB - 512 bytes
# of the pool /etc/dlsm-pool (2 MiB of seeded pseudo-random bytes the host made, see
# vmlab.py) starting at ((ID * 7919) mod 256) * 4096: the content depends on the ID and the
# offset, so a stale, lost or misplaced write shows, and the host regenerates the whole
# expected disk from the last ID alone. Verification compares every byte read back with the
# regenerated record (cmp). Every write and read uses O_DIRECT (dd oflag/iflag=direct): the
# guest's page cache never hides the disk. (Generating the bytes with `yes` cost 170 ms per
# MiB under TCG; the pool costs ~10 ms.)
#
# Kernel command line parameters:
#   dlsm.slots=N      records on the disk (default: as many as fit)
#   dlsm.rate=R       MB/s (10^6 bytes) the writer aims for; 0 = idle (no I/O after the
#                     start), max = as fast as it can
#   dlsm.prefilled=1  the host already wrote IDs 0..SLOTS-1; otherwise the guest writes them
#   dlsm.check=K      after every K-th record, read back the record written SLOTS/2 IDs
#                     earlier and verify it (default 4; 0 = never)
# Console protocol (lines the host greps for):
#   READY ...                 the disk holds a full lap, the timed workload starts
#   PROG up=CS id=ID w=N r=N err=N   four times a second: guest uptime in 1/100 s, next ID, records
#                             written and read back since READY, errors so far
#   IOERR ... / VERIFY FAIL ...      something went wrong (the host fails the test)
#   VERIFY ALL OK slots=N | VERIFY ALL FAIL bad=N   the final pass over every slot
#   FINAL last=ID             the last ID written; then the guest powers off
# Input: a line "STOP" on the console ends the workload (final verify pass, FINAL, power off).

SLOTS=0 REC=1048576 RATE=0 PREFILLED=0 CHECK=4 MULT=1000003
read -r cmdline </proc/cmdline
for a in $cmdline; do
    case $a in
        dlsm.slots=*) SLOTS=${a#*=} ;;
        dlsm.rate=*) RATE=${a#*=} ;;
        dlsm.prefilled=*) PREFILLED=${a#*=} ;;
        dlsm.check=*) CHECK=${a#*=} ;;
    esac
done
DEV=/dev/vda
i=0
while [ ! -b $DEV ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
[ -b $DEV ] || { echo "IOERR no $DEV"; exit 1; }
[ -f /etc/dlsm-pool ] || { echo "IOERR no /etc/dlsm-pool in the initramfs"; exit 1; }
size=$(blockdev --getsize64 $DEV)
[ "$SLOTS" -gt 0 ] || SLOTS=$((size / REC))
[ $((SLOTS * REC)) -le "$size" ] || { echo "IOERR disk too small: $size < $SLOTS x $REC"; exit 1; }
echo "WORKLOAD START slots=$SLOTS rec=$REC rate=$RATE prefilled=$PREFILLED disk=$size"

now_cs() { # sets $now: uptime in 1/100 s (the "1" prefix keeps "0.08" from being octal)
    read -r u _ </proc/uptime
    now=$(( ${u%.*} * 100 + 1${u#*.} - 100 ))
}
slot_of() { s=$(( ($1 * MULT) % SLOTS )); }
errors=0 written=0 readback=0
POOL=/etc/dlsm-pool
gen_rec() { # ID SLOT: the record's bytes on stdout
    printf '%-511s\n' "DLSM record $1 slot $2 offset $(($2 * REC))"
    dd if=$POOL bs=$((REC - 512)) count=1 skip=$(( ($1 * 7919) % 256 * 4096 )) iflag=skip_bytes 2>/dev/null
}
write_rec() { # ID
    slot_of "$1"
    if ! gen_rec "$1" "$s" |
         dd of=$DEV bs="$REC" seek="$s" count=1 iflag=fullblock oflag=direct 2>/tmp/dd.err; then
        errors=$((errors + 1))
        echo "IOERR write id=$1 slot=$s: $(cat /tmp/dd.err)"
        return 1
    fi
    eval "last_$s=$1"
    written=$((written + 1))
}
verify_slot() { # SLOT ID
    gen_rec "$2" "$1" >/tmp/want
    readback=$((readback + 1))
    if ! dd if=$DEV bs="$REC" skip="$1" count=1 iflag=direct 2>/tmp/dd.err | cmp -s - /tmp/want; then
        errors=$((errors + 1))
        echo "VERIFY FAIL slot=$1 id=$2: $(dd if=$DEV bs=512 skip=$(($1 * REC / 512)) count=1 iflag=direct 2>&1 | head -c 80) $(cat /tmp/dd.err)"
        return 1
    fi
}

# Commands from the console, read in the background.
stty -echo 2>/dev/null
( while read -r line; do
      echo "$line" >/tmp/cmd.new && mv /tmp/cmd.new /tmp/cmd
  done ) </dev/console &

# The compiled workload when the initramfs has it (the lab puts it there): same records and
# console lines, without a process per record, which under TCG is what bounds the rate.
if [ -x /bin/guest-writer ]; then
    exec /bin/guest-writer $DEV "$SLOTS" "$RATE" "$PREFILLED" "$CHECK" /etc/dlsm-pool
fi

id=0
if [ "$PREFILLED" = 1 ]; then
    while [ $id -lt "$SLOTS" ]; do slot_of $id; eval "last_$s=$id"; id=$((id + 1)); done
else
    while [ $id -lt "$SLOTS" ]; do write_rec $id; id=$((id + 1)); done
fi
now_cs
echo "READY up=$now id=$id"

# The timed workload: write records at RATE, read an earlier one back every CHECK records.
written=0 readback=0
start=$now k=0 next_prog=$((now + 25))
while [ ! -e /tmp/cmd ]; do
    now_cs
    if [ "$now" -ge "$next_prog" ]; then
        echo "PROG up=$now id=$id w=$written r=$readback err=$errors"
        next_prog=$((next_prog + 25))
        [ "$now" -lt "$next_prog" ] || next_prog=$((now + 25))
    fi
    if [ "$RATE" = 0 ]; then
        usleep 20000
        continue
    fi
    if [ "$RATE" != max ]; then
        due=$((start + k * REC / (RATE * 10000)))
        if [ "$now" -lt "$due" ]; then
            usleep $(( (due - now) * 10000 ))
            continue
        fi
        # More than a second behind (slow disk, a pause): restart the clock, no burst.
        [ $((now - due)) -le 100 ] || { start=$now; k=0; }
    fi
    write_rec $id
    id=$((id + 1)) k=$((k + 1))
    if [ "$CHECK" -gt 0 ] && [ $((id % CHECK)) = 0 ] && [ $id -ge $((SLOTS + SLOTS / 2)) ]; then
        old=$((id - 1 - SLOTS / 2))
        slot_of $old
        verify_slot "$s" "$old"
    fi
done
read -r cmd </tmp/cmd
now_cs
echo "STOPPING cmd=$cmd up=$now id=$id w=$written r=$readback err=$errors"

bad=0 s2=0
while [ $s2 -lt "$SLOTS" ]; do
    eval "want_id=\$last_$s2"
    # shellcheck disable=SC2154 # want_id is set by the eval above
    verify_slot "$s2" "$want_id" || bad=$((bad + 1))
    s2=$((s2 + 1))
done
if [ $bad = 0 ]; then echo "VERIFY ALL OK slots=$SLOTS"; else echo "VERIFY ALL FAIL bad=$bad"; fi
echo "FINAL last=$((id - 1)) err=$errors"
sync
