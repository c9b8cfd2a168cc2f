"""Replays, through Cinder's real VolumeManager and database, the call
sequences in cinder-driver-shim/README.md: Nova's live migration (attachment API, success
and rollback) and an admin `cinder migrate`. It checks both the order in
which Cinder calls the driver and what the driver asks of the backend."""

import functools

from cinder import objects
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import utils as tests_utils
from cinder.volume import manager as volume_manager

from dlsm_cinder.tests import base

INSTANCE = fake.INSTANCE_ID
DRIVER_CALLS = ('validate_connector', 'create_export', 'initialize_connection',
                'terminate_connection', 'remove_export', 'migrate_volume')


class CallOrderBase(base.DriverTestCase):
    """A VolumeManager over the driver, recording the calls Cinder makes."""

    def setUp(self):
        super().setUp()
        self.flags(host='ctl')
        self.manager = volume_manager.VolumeManager(
            volume_driver='dlsm_cinder.driver.DLSMDriver',
            service_name=base.BACKEND)
        self.manager.driver.do_setup(self.ctx)
        self.manager.driver.set_initialized()
        self.manager.message_api = self.mock_object(self.manager,
                                                    'message_api')
        self.driver_calls = []
        for name in DRIVER_CALLS:
            self._record(name)
        for h in ('ctl@dlsm',):
            objects.Service(self.ctx, host=h, binary='cinder-volume',
                            topic='cinder-volume').create()

    def _record(self, name):
        drv = self.manager.driver
        real = getattr(drv, name)

        @functools.wraps(real)
        def wrapper(*args, **kwargs):
            connector = None
            for a in args:
                if isinstance(a, dict) and 'host' in a:
                    connector = a.get('host') if 'initiator' in a else None
            self.driver_calls.append(
                name if connector is None else '%s(%s)' % (name, connector))
            return real(*args, **kwargs)
        setattr(drv, name, wrapper)

    @staticmethod
    def connector(host):
        # What os-brick's get_connector_properties gives Nova on a host.
        return {'host': host, 'initiator': 'iqn.%s' % host, 'ip': '127.0.0.1',
                'platform': 'x86_64', 'os_type': 'linux', 'multipath': False}

    def create_volume(self):
        vtype = tests_utils.create_volume_type(self.ctx, name='dlsm')
        vol = tests_utils.create_volume(self.ctx, host='ctl@dlsm#node1',
                                        status='available', size=1,
                                        volume_type_id=vtype.id)
        self.manager.driver.create_volume(vol)
        return vol

    def attach(self, vol, host):
        att = objects.VolumeAttachment(
            self.ctx, volume_id=vol.id, instance_uuid=INSTANCE,
            attach_status='reserved', attach_mode='rw')
        att.create()
        vol = objects.Volume.get_by_id(self.ctx, vol.id)
        conn = self.manager.attachment_update(self.ctx, vol,
                                              self.connector(host), att.id)
        # What the API's os-complete does when Nova has connected the disk.
        att = objects.VolumeAttachment.get_by_id(self.ctx, att.id)
        att.update({'attach_status': 'attached'})
        att.save()
        vol.update({'status': 'in-use', 'attach_status': 'attached'})
        vol.save()
        return att, conn

    def detach(self, vol, att):
        vol = objects.Volume.get_by_id(self.ctx, vol.id)
        self.manager.attachment_delete(self.ctx, att.id, vol)
        objects.VolumeAttachment.get_by_id(self.ctx, att.id).destroy()

    def assertRecord(self, vol, node):
        """Cinder's record names `node`'s pool as the volume's home."""
        vol = objects.Volume.get_by_id(self.ctx, vol.id)
        self.assertEqual(('ctl@dlsm#%s' % node, node),
                         (vol.host, vol.provider_location))

    def migrations(self):
        return list(self.backend.migrations.values())

    def prepare_live_migration(self):
        """Instance on node1 writing the volume, pre_live_migration to node2
        done: returns (volume, source attachment, destination attachment,
        the PREPARED migration)."""
        vol = self.create_volume()
        src_att, _ = self.attach(vol, 'node1')
        self.backend.writers[vol.name_id] = 'node1'
        dst_att, _ = self.attach(vol, 'node2')
        return vol, src_att, dst_att, self.migrations()[0]



class CallOrderTestCase(CallOrderBase):

    def test_nova_live_migration(self):
        vol = self.create_volume()
        src_att, conn = self.attach(vol, 'node1')
        n1, n2 = self.backend.nodes['node1'], self.backend.nodes['node2']
        self.assertEqual(n1['nbdHost'], conn['host'])
        self.assertEqual([], self.migrations())
        # The instance writes the volume from node1 from now on.
        self.backend.writers[vol.name_id] = 'node1'
        del self.backend.calls[:]
        self.driver_calls = []

        # 1. pre_live_migration on the destination.
        dst_att, conn = self.attach(vol, 'node2')
        self.assertEqual(['validate_connector(node2)',
                          'create_export(node2)',
                          'initialize_connection(node2)'],
                         self.driver_calls)
        self.assertEqual(n2['nbdHost'], conn['host'])
        self.assertEqual(vol.name_id, conn['export'])
        mig = self.migrations()[0]
        self.assertEqual(('node1', 'node2', 'PREPARED', 'manual'),
                         (mig['sourceNode'], mig['targetNode'],
                          mig['phase'], mig['switchMode']))
        self.assertEqual(['POST /v1/migrations',
                          'POST /v1/volumes/%s/connection' % vol.name_id],
                         self.backend.paths())
        # 2. memory migration: nothing reaches Cinder.
        # 3. post_live_migration at the source.
        self.driver_calls = []
        self.detach(vol, src_att)
        self.assertEqual(['terminate_connection(node1)', 'remove_export'],
                         self.driver_calls)
        self.assertEqual('POST /v1/migrations/%s/switch' % mig['id'],
                         self.backend.paths()[-1])
        self.assertEqual('ACTIVE', mig['phase'])
        self.assertRecord(vol, 'node2')
        # The destination keeps its connection; a later detach there is an
        # ordinary one and does not touch the migration.
        self.backend.commit(mig['id'])
        self.assertEqual('node2', self.backend.volumes[vol.name_id]['node'])
        del self.backend.calls[:]
        self.detach(vol, dst_att)
        self.assertEqual([], self.backend.paths())
        self.assertEqual('COMMITTED', mig['phase'])
        self.assertRecord(vol, 'node2')

    def test_nova_live_migration_switched_by_backend_first(self):
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        # An operator switched before Nova's post-migration.
        self.backend._activate(mig)
        del self.backend.calls[:]
        self.detach(vol, src_att)
        self.assertEqual([], self.backend.paths())
        self.assertEqual('ACTIVE', mig['phase'])
        self.assertRecord(vol, 'node2')

    def test_live_migration_never_switches_on_a_connection_count(self):
        # No writer on the source at all (a paused guest, a dropped
        # connection): the migration still waits for Nova.
        vol = self.create_volume()
        self.attach(vol, 'node1')
        self.attach(vol, 'node2')
        mig = self.migrations()[0]
        self.assertEqual(('manual', 'PREPARED'),
                         (mig['switchMode'], mig['phase']))
        self.assertRecord(vol, 'node1')

    def test_rollback_after_a_switch_copies_back(self):
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        self.backend._activate(mig)
        del self.backend.calls[:]
        self.detach(vol, dst_att)
        self.assertEqual(['POST /v1/migrations/%s/abort' % mig['id']],
                         self.backend.paths())
        self.assertEqual('ABORTED', mig['phase'])
        self.assertEqual('node1', self.backend.volumes[vol.name_id]['node'])
        self.assertRecord(vol, 'node1')

    def test_rollback_after_the_commit_migrates_back(self):
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        self.backend._activate(mig)
        self.backend.commit(mig['id'])
        del self.backend.calls[:]
        self.detach(vol, dst_att)
        back = self.migrations()[1]
        self.assertEqual(['POST /v1/migrations',
                          'POST /v1/migrations/%s/switch' % back['id']],
                         self.backend.paths())
        self.assertEqual(('node2', 'node1', 'manual', 'ACTIVE'),
                         (back['sourceNode'], back['targetNode'],
                          back['switchMode'], back['phase']))
        self.assertRecord(vol, 'node1')
        # The instance on node1 reaches the volume there (A's sink).
        _, conn = self.attach(vol, 'node1')
        self.assertEqual(self.backend.nodes['node1']['nbdHost'], conn['host'])

    def test_rollback_whose_abort_finds_the_copy_committed_migrates_back(self):
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        self.backend._activate(mig)
        self.backend.commits_first = True
        del self.backend.calls[:]
        self.detach(vol, dst_att)
        self.assertEqual('COMMITTED', mig['phase'])
        back = self.migrations()[1]
        self.assertEqual(['POST /v1/migrations/%s/abort' % mig['id'],
                          'POST /v1/migrations',
                          'POST /v1/migrations/%s/switch' % back['id']],
                         self.backend.paths())
        self.assertEqual(('node1', 'ACTIVE'),
                         (back['targetNode'], back['phase']))
        self.assertRecord(vol, 'node1')

    def test_rollback_after_a_switch_with_dm_clone_migrates_back(self):
        self.backend.dm_clone.add('node2')
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        self.backend._activate(mig)
        self.detach(vol, dst_att)
        self.assertTrue(mig['migrateBack'])
        self.assertRecord(vol, 'node1')
        self.backend.commit(mig['id'])
        back = self.migrations()[1]
        self.assertEqual(('node2', 'node1', 'ACTIVE'),
                         (back['sourceNode'], back['targetNode'],
                          back['phase']))

    def test_attach_brings_a_stale_record_in_line(self):
        # The data moved without Cinder seeing it (the record of an older
        # driver, or an operator's `dlsm migrate`).
        vol = self.create_volume()
        self.backend.volumes[vol.name_id]['node'] = 'node2'
        self.attach(vol, 'node2')
        self.assertRecord(vol, 'node2')

    def test_nova_live_migration_rollback(self):
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        self.driver_calls = []
        # 4. rollback: the destination's attachment goes away.
        self.detach(vol, dst_att)
        self.assertEqual(['terminate_connection(node2)', 'remove_export'],
                         self.driver_calls)
        self.assertEqual('POST /v1/migrations/%s/abort' % mig['id'],
                         self.backend.paths()[-1])
        self.assertEqual('ABORTED', mig['phase'])
        self.assertEqual('node1', self.backend.volumes[vol.name_id]['node'])
        self.assertRecord(vol, 'node1')
        # The instance still runs on node1 and can keep going.
        _, conn = self.attach(vol, 'node1')
        self.assertEqual(self.backend.nodes['node1']['nbdHost'], conn['host'])

    def test_cinder_migrate(self):
        vol = self.create_volume()
        self.driver_calls = []
        del self.backend.calls[:]
        host = self.dest('node2')
        self.manager.migrate_volume(self.ctx, vol, host)
        vol = objects.Volume.get_by_id(self.ctx, vol.id)
        self.assertEqual(['migrate_volume'], self.driver_calls)
        self.assertEqual('ctl@dlsm#node2', vol.host)
        self.assertEqual('node2', vol.provider_location)
        self.assertEqual('success', vol.migration_status)
        self.assertEqual(['POST /v1/migrations'], self.backend.paths())
        self.assertEqual('ACTIVE', self.migrations()[0]['phase'])
        # Usable on node2 at once: an attach there needs no further move.
        _, conn = self.attach(vol, 'node2')
        self.assertEqual(self.backend.nodes['node2']['nbdHost'], conn['host'])


class LocalModeCallOrderTestCase(CallOrderBase):
    """Nodes with the kernel path: every host gets /dev/mapper/dlsm-NAME, and
    each detach tears that host's device down again."""
    mode = 'local'

    def devices(self, vol):
        return sorted(n for v, n in self.backend.devices if v == vol.name_id)

    def test_attach_and_detach_create_and_remove_the_device(self):
        vol = self.create_volume()
        att, conn = self.attach(vol, 'node1')
        self.assertEqual('/dev/mapper/dlsm-%s' % vol.name_id,
                         conn['device_path'])
        self.assertEqual(['node1'], self.devices(vol))
        self.detach(vol, att)
        self.assertEqual([], self.devices(vol))
        self.assertEqual('DELETE /v1/volumes/%s/connection/node1'
                         % vol.name_id, self.backend.paths()[-1])

    def test_nova_live_migration(self):
        vol, src_att, _, mig = self.prepare_live_migration()
        self.assertEqual(['node1', 'node2'], self.devices(vol))
        del self.backend.calls[:]
        # post_live_migration at the source: switch, then the source's
        # device goes; the destination's stays with the instance.
        self.detach(vol, src_att)
        self.assertEqual(['POST /v1/migrations/%s/switch' % mig['id'],
                          'DELETE /v1/volumes/%s/connection/node1'
                          % vol.name_id], self.backend.paths())
        self.assertEqual(['node2'], self.devices(vol))
        self.assertEqual('ACTIVE', mig['phase'])

    def test_nova_live_migration_rollback(self):
        vol, src_att, dst_att, mig = self.prepare_live_migration()
        del self.backend.calls[:]
        # The destination's device reads through the sink: it goes first.
        self.detach(vol, dst_att)
        self.assertEqual(['DELETE /v1/volumes/%s/connection/node2'
                          % vol.name_id,
                          'POST /v1/migrations/%s/abort' % mig['id']],
                         self.backend.paths())
        self.assertEqual(['node1'], self.devices(vol))
        self.assertEqual('ABORTED', mig['phase'])
