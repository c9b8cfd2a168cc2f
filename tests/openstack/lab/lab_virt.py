"""The lab's Nova virt driver: Nova's own FakeLiveMigrateDriver (no guest, no
hypervisor), with two changes a deterministic test needs:

* every driver call of a live migration is recorded, with the compute host,
  in $DLSM_LAB_DIR/virt-calls.log, so the test checks the order Nova made them;
* live_migration waits for Nova's own decision, live-migration-force-complete
  or live-migration-abort (bounded by 600 s), instead of the parent's 5 s
  timer, so no scenario races a clock.

check_can_live_migrate_destination refuses (MigrationPreCheckError) while the
file $DLSM_LAB_DIR/refuse-precheck exists: a destination's pre-check failing.
"""

import json
import os
import time

from nova import exception
from nova.virt import fake

import nova.conf

CONF = nova.conf.CONF
DECISION_DEADLINE = 600


def _lab_file(name):
    return os.path.join(os.environ['DLSM_LAB_DIR'], name)


class RecordingLiveMigrateDriver(fake.FakeLiveMigrateDriver):

    def _record(self, call, instance=None):
        line = json.dumps({'host': CONF.host, 'call': call,
                           'instance': getattr(instance, 'uuid', None),
                           't': time.time()})
        with open(_lab_file('virt-calls.log'), 'a') as f:
            f.write(line + '\n')

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info,
                                           dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        self._record('check_can_live_migrate_destination', instance)
        if os.path.exists(_lab_file('refuse-precheck')):
            raise exception.MigrationPreCheckError(
                reason='lab: the destination refuses (refuse-precheck)')
        return super().check_can_live_migrate_destination(
            context, instance, src_compute_info, dst_compute_info,
            block_migration, disk_over_commit)

    def check_can_live_migrate_source(self, context, instance,
                                      dest_check_data, block_device_info=None):
        self._record('check_can_live_migrate_source', instance)
        return super().check_can_live_migrate_source(
            context, instance, dest_check_data, block_device_info)

    def pre_live_migration(self, context, instance, block_device_info,
                           network_info, disk_info, migrate_data):
        self._record('pre_live_migration', instance)
        return super().pre_live_migration(
            context, instance, block_device_info, network_info, disk_info,
            migrate_data)

    def live_migration(self, context, instance, dest, post_method,
                       recover_method, block_migration=False,
                       migrate_data=None):
        self._record('live_migration', instance)
        self._abort_migration = False
        self._migrating = True
        deadline = time.monotonic() + DECISION_DEADLINE
        while self._migrating and time.monotonic() < deadline:
            time.sleep(0.1)   # eventlet's: force-complete/abort run meanwhile
        if self._migrating:
            self._record('live_migration_undecided', instance)
            self._abort_migration = True
        if self._abort_migration:
            recover_method(context, instance, dest, migrate_data,
                           migration_status='cancelled')
        else:
            post_method(context, instance, dest, block_migration,
                        migrate_data)

    def live_migration_force_complete(self, instance):
        self._record('live_migration_force_complete', instance)
        super().live_migration_force_complete(instance)

    def live_migration_abort(self, instance):
        self._record('live_migration_abort', instance)
        super().live_migration_abort(instance)

    def post_live_migration(self, context, instance, block_device_info,
                            migrate_data=None):
        self._record('post_live_migration', instance)
        super().post_live_migration(context, instance, block_device_info,
                                    migrate_data)

    def post_live_migration_at_destination(self, context, instance,
                                           network_info,
                                           block_migration=False,
                                           block_device_info=None):
        self._record('post_live_migration_at_destination', instance)
        return super().post_live_migration_at_destination(
            context, instance, network_info, block_migration,
            block_device_info)

    def rollback_live_migration_at_destination(self, context, instance,
                                               network_info,
                                               block_device_info,
                                               destroy_disks=True,
                                               migrate_data=None):
        self._record('rollback_live_migration_at_destination', instance)
        return super().rollback_live_migration_at_destination(
            context, instance, network_info, block_device_info,
            destroy_disks, migrate_data)
