"""DLSMDriver on real Cinder objects against the in-memory backend."""

import ddt

from cinder import exception
from cinder import objects
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume

from dlsm_cinder import client
from dlsm_cinder.tests import base

GiB = 1024 ** 3


def attachments(*hosts):
    return objects.VolumeAttachmentList(objects=[
        objects.VolumeAttachment(id=fake.ATTACHMENT_ID,
                                 attach_status='attached', attached_host=h)
        for h in hosts])


@ddt.ddt
class DLSMDriverTestCase(base.DriverTestCase):

    def volume(self, node='node1', size=1, create=True, attached_to=(),
               **kw):
        vol = fake_volume.fake_volume_obj(
            self.ctx, host=self.host(node), size=size, **kw)
        vol.volume_attachment = attachments(*attached_to)
        if create:
            self.driver.create_volume(vol)
        return vol

    def bvol(self, vol):
        return self.backend.volumes.get(vol.name_id)

    # -- setup and stats ----------------------------------------------------

    def test_driver_options_are_listed(self):
        names = [o.name for o in self.driver.get_driver_options()]
        self.assertIn('dlsm_token', names)
        token = [o for o in self.driver.get_driver_options()
                 if o.name == 'dlsm_token'][0]
        self.assertTrue(token.secret)

    def test_setup_error_when_backend_unreachable(self):
        self.backend.fail_next = [503] * 10
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.check_for_setup_error)

    def test_stats_one_pool_per_node(self):
        stats = self.driver.get_volume_stats(refresh=True)
        for key in ('volume_backend_name', 'vendor_name', 'driver_version',
                    'storage_protocol', 'total_capacity_gb',
                    'free_capacity_gb'):
            self.assertIn(key, stats)
        self.assertEqual('dlsm', stats['volume_backend_name'])
        self.assertEqual('1.1.0', stats['driver_version'])
        self.assertEqual('nbd', stats['storage_protocol'])
        self.assertEqual(['node1', 'node2'],
                         sorted(p['pool_name'] for p in stats['pools']))
        pool = stats['pools'][0]
        self.assertEqual(100, pool['total_capacity_gb'])
        self.assertEqual(80, pool['free_capacity_gb'])
        self.assertEqual('DLSMDriver:%s:node1' % base.URL,
                         pool['location_info'])
        self.assertTrue(pool['online_extend_support'])
        self.assertEqual(200, stats['total_capacity_gb'])

    def test_stats_down_node_has_no_free_space(self):
        self.backend.add_node('node3', state='DOWN')
        pools = {p['pool_name']: p for p in
                 self.driver.get_volume_stats(refresh=True)['pools']}
        self.assertEqual(0, pools['node3']['free_capacity_gb'])
        self.assertEqual('down', pools['node3']['backend_state'])

    def test_stats_unknown_capacity(self):
        del self.backend.nodes['node1']['capacityBytes']
        del self.backend.nodes['node1']['freeBytes']
        pools = {p['pool_name']: p for p in
                 self.driver.get_volume_stats(refresh=True)['pools']}
        self.assertEqual('unknown', pools['node1']['total_capacity_gb'])
        self.assertEqual('unknown', pools['node1']['free_capacity_gb'])

    # -- volumes --------------------------------------------------------------

    def test_create_volume_on_pool_node_keyed_by_name_id(self):
        vol = self.volume(node='node2', size=3, create=False,
                          _name_id=fake.VOLUME2_ID)
        update = self.driver.create_volume(vol)
        self.assertEqual({'provider_location': 'node2'}, update)
        b = self.backend.volumes[fake.VOLUME2_ID]
        self.assertEqual(('node2', 3 * GiB), (b['node'], b['sizeBytes']))

    def test_create_volume_without_pool_fails(self):
        vol = fake_volume.fake_volume_obj(self.ctx, host='ctl@dlsm')
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.create_volume, vol)

    def test_create_volume_is_idempotent(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.assertEqual(1, len(self.backend.volumes))

    def test_delete_volume(self):
        vol = self.volume()
        self.driver.delete_volume(vol)
        self.assertIsNone(self.bvol(vol))

    def test_delete_missing_volume_is_success(self):
        vol = self.volume(create=False)
        self.driver.delete_volume(vol)
        self.assertIn('DELETE /v1/volumes/%s' % vol.name_id,
                      self.backend.paths())

    def test_delete_during_prepared_migration_aborts_first(self):
        vol = self.volume()
        self.backend.writers[vol.name_id] = 'node1'
        mig = self.driver.client.create_migration(vol.name_id, 'node2')
        self.driver.delete_volume(vol)
        self.assertIsNone(self.bvol(vol))
        self.assertEqual('ABORTED', self.backend.migrations[mig['id']]['phase'])

    def test_delete_during_active_migration_is_busy(self):
        vol = self.volume()
        self.driver.client.create_migration(vol.name_id, 'node2')
        self.assertRaises(exception.VolumeIsBusy,
                          self.driver.delete_volume, vol)
        self.assertIsNotNone(self.bvol(vol))

    def test_extend_volume(self):
        vol = self.volume(size=1)
        self.driver.extend_volume(vol, 5)
        self.assertEqual(5 * GiB, self.bvol(vol)['sizeBytes'])

    def test_extend_during_migration_reports_backend_message(self):
        vol = self.volume()
        self.driver.client.create_migration(vol.name_id, 'node2')
        e = self.assertRaises(exception.VolumeBackendAPIException,
                              self.driver.extend_volume, vol, 2)
        self.assertIn('migrating', str(e))

    def test_exports_change_nothing_on_the_backend(self):
        vol = self.volume()
        before = len(self.backend.paths())
        # create_export's answer is the model update Cinder saves: the
        # record of the node the data is on, or None when it is in line.
        update = self.driver.create_export(self.ctx, vol, {'host': 'node1'})
        self.assertEqual({'host': 'ctl@dlsm#node1',
                          'provider_location': 'node1'}, update)
        vol.update(update)
        self.assertIsNone(self.driver.create_export(self.ctx, vol,
                                                    {'host': 'node2'}))
        self.driver.ensure_export(self.ctx, vol)
        self.driver.remove_export(self.ctx, vol)
        self.assertEqual(before, len(self.backend.paths()))

    def test_create_export_names_the_target_once_switched(self):
        vol = self.volume(provider_location='node1')
        mig = self.driver.client.create_migration(vol.name_id, 'node2')
        self.assertEqual('ACTIVE', mig['phase'])
        self.assertEqual({'host': 'ctl@dlsm#node2',
                          'provider_location': 'node2'},
                         self.driver.create_export(self.ctx, vol,
                                                   {'host': 'node2'}))

    # -- snapshots and clones (proposed backend API) ---------------------------

    def test_snapshot_lifecycle_and_volume_from_snapshot(self):
        vol = self.volume(size=1)
        snap = fake_snapshot.fake_snapshot_obj(self.ctx, volume=vol,
                                               volume_id=vol.id)
        self.driver.create_snapshot(snap)
        self.assertIn((vol.name_id, 'snapshot-%s' % snap.id),
                      self.backend.snapshots)
        new = self.volume(node='node2', size=2, create=False,
                          id=fake.VOLUME3_ID, _name_id=None)
        update = self.driver.create_volume_from_snapshot(new, snap)
        self.assertEqual({'provider_location': 'node2'}, update)
        body = [b for m, p, b in self.backend.calls
                if m == 'POST' and p == '/v1/volumes'][-1]
        self.assertEqual({'volume': vol.name_id,
                          'snapshot': 'snapshot-%s' % snap.id},
                         body['source'])
        self.assertEqual(2 * GiB, body['sizeBytes'])
        self.driver.delete_snapshot(snap)
        self.assertEqual({}, self.backend.snapshots)
        self.driver.delete_snapshot(snap)   # already gone: still fine

    def test_clone(self):
        src = self.volume(size=1)
        new = self.volume(size=1, create=False, id=fake.VOLUME4_ID,
                          _name_id=None)
        self.driver.create_cloned_volume(new, src)
        self.assertEqual('node1', self.backend.volumes[new.name_id]['node'])
        body = [b for m, p, b in self.backend.calls
                if m == 'POST' and p == '/v1/volumes'][-1]
        self.assertEqual({'volume': src.name_id}, body['source'])

    # -- connections -----------------------------------------------------------

    def test_validate_connector_needs_host(self):
        self.assertRaises(exception.InvalidConnectorException,
                          self.driver.validate_connector, {})
        self.driver.validate_connector({'host': 'node1'})

    def test_nbd_connection_on_owner_node(self):
        vol = self.volume()
        conn = self.driver.initialize_connection(vol, {'host': 'node1'})
        self.assertEqual('nbd', conn['driver_volume_type'])
        data = conn['data']
        n1 = self.backend.nodes['node1']
        self.assertEqual(n1['nbdHost'], data['host'])
        self.assertEqual(n1['nbdPort'], data['port'])
        self.assertEqual(vol.name_id, data['export'])
        self.assertEqual(vol.name_id, data['name'])
        self.assertEqual([n1['nbdHost']], data['hosts'])
        self.assertEqual([str(n1['nbdPort'])], data['ports'])
        self.assertEqual([], [m for m in self.backend.migrations])

    def test_plain_attach_elsewhere_reads_remotely_by_default(self):
        vol = self.volume()
        conn = self.driver.initialize_connection(vol, {'host': 'node2'})
        self.assertEqual(self.backend.nodes['node1']['nbdHost'],
                         conn['data']['host'])
        self.assertEqual({}, self.backend.migrations)

    def test_attach_from_host_without_blockd_reads_remotely(self):
        vol = self.volume(attached_to=('node1',))
        conn = self.driver.initialize_connection(vol, {'host': 'cinder-ctl'})
        self.assertEqual('nbd', conn['driver_volume_type'])
        self.assertEqual({}, self.backend.migrations)

    def test_host_node_map(self):
        self.override_config('dlsm_host_node_map',
                             {'compute2.example.org': 'node2'},
                             group=base.BACKEND)
        vol = self.volume(attached_to=('node1',))
        self.driver.initialize_connection(
            vol, {'host': 'compute2.example.org'})
        mig = list(self.backend.migrations.values())[0]
        self.assertEqual('node2', mig['targetNode'])

    def test_terminate_without_migration_does_nothing(self):
        vol = self.volume()
        self.assertIsNone(self.driver.terminate_connection(
            vol, {'host': 'node1'}))
        self.assertIsNone(self.driver.terminate_connection(vol, None))
        self.assertEqual([], [p for p in self.backend.paths()
                              if 'migrations' in p])

    def test_terminate_for_deleted_volume(self):
        vol = self.volume(create=False)
        self.driver.terminate_connection(vol, {'host': 'node1'})

    # -- admin migration and retype ---------------------------------------------

    def test_migrate_volume_to_another_pool(self):
        vol = self.volume()
        moved, update = self.driver.migrate_volume(self.ctx, vol,
                                                   self.dest('node2'))
        self.assertTrue(moved)
        self.assertEqual({'provider_location': 'node2'}, update)
        mig = list(self.backend.migrations.values())[0]
        self.assertEqual('node2', mig['targetNode'])
        self.assertEqual('ACTIVE', mig['phase'])
        self.assertEqual('auto', mig['switchMode'])

    def test_migrate_volume_switches_when_auto_did_not(self):
        vol = self.volume()
        self.backend.writers[vol.name_id] = 'node1'   # stale writer
        moved, _ = self.driver.migrate_volume(self.ctx, vol,
                                              self.dest('node2'))
        self.assertTrue(moved)
        self.assertEqual('ACTIVE',
                         list(self.backend.migrations.values())[0]['phase'])
        self.assertIn('POST /v1/migrations/m1/switch', self.backend.paths())

    def test_migrate_volume_other_backend_declined(self):
        vol = self.volume()
        host = self.dest('node2')
        host['capabilities'] = dict(host['capabilities'],
                                    location_info='LVMVolumeDriver:x:y')
        self.assertEqual((False, None),
                         self.driver.migrate_volume(self.ctx, vol, host))
        self.assertEqual({}, self.backend.migrations)

    def test_migrate_volume_without_pool_declined(self):
        vol = self.volume()
        host = {'host': 'ctl@other', 'capabilities': {}}
        self.assertEqual((False, None),
                         self.driver.migrate_volume(self.ctx, vol, host))

    def test_migrate_attached_volume_declined(self):
        vol = self.volume(status='in-use', attached_to=('node1',))
        self.assertEqual((False, None), self.driver.migrate_volume(
            self.ctx, vol, self.dest('node2')))
        self.assertEqual({}, self.backend.migrations)

    def test_migrate_volume_bandwidth_option(self):
        self.override_config('dlsm_migration_bandwidth', 1000,
                             group=base.BACKEND)
        vol = self.volume()
        self.driver.migrate_volume(self.ctx, vol, self.dest('node2'))
        body = [b for m, p, b in self.backend.calls
                if p == '/v1/migrations' and m == 'POST'][0]
        self.assertEqual(1000, body['bandwidthBytesPerSecond'])

    def test_migrate_failure_raises(self):
        vol = self.volume()
        self.driver.client.create_migration(vol.name_id, 'node2')
        self.backend.add_node('node3')
        self.assertRaises(client.DLSMAPIException,
                          self.driver.migrate_volume, self.ctx, vol,
                          self.dest('node3'))

    def test_update_migrated_volume_keeps_new_name_id(self):
        vol = self.volume()
        new = self.volume(node='node2', create=False, id=fake.VOLUME2_ID,
                          provider_location='node2')
        self.assertEqual(
            {'_name_id': new.name_id, 'provider_location': 'node2'},
            self.driver.update_migrated_volume(self.ctx, vol, new,
                                               'available'))

    @ddt.data({'extra_specs': {'x': ('a', 'b')}},
              {'qos_specs': {'x': ('a', 'b')}},
              {'encryption': {'x': ('a', 'b')}})
    def test_retype_with_changes_declined(self, diff):
        vol = self.volume()
        self.assertEqual((False, None), self.driver.retype(
            self.ctx, vol, {'id': 'x'}, diff, self.dest('node1')))

    def test_retype_same_pool(self):
        vol = self.volume()
        diff = {'extra_specs': {}, 'qos_specs': {}, 'encryption': {}}
        self.assertEqual((True, None), self.driver.retype(
            self.ctx, vol, {'id': 'x'}, diff, self.dest('node1')))

    def test_retype_only_pool_differs_moves(self):
        vol = self.volume()
        diff = {'extra_specs': {}, 'qos_specs': {}, 'encryption': {}}
        moved, update = self.driver.retype(self.ctx, vol, {'id': 'x'}, diff,
                                           self.dest('node2'))
        self.assertTrue(moved)
        self.assertEqual({'provider_location': 'node2'}, update)
        self.assertEqual('node2', list(
            self.backend.migrations.values())[0]['targetNode'])


class DLSMDriverLocalModeTestCase(base.DriverTestCase):
    mode = 'local'

    def test_stats_no_online_extend(self):
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertFalse(stats['online_extend_support'])
        self.assertFalse(stats['pools'][0]['online_extend_support'])
        self.assertEqual('local', stats['storage_protocol'])

    def test_local_attach_on_other_node_moves_volume_first(self):
        vol = fake_volume.fake_volume_obj(self.ctx, host=self.host('node1'))
        vol.volume_attachment = attachments()
        self.driver.create_volume(vol)
        conn = self.driver.initialize_connection(vol, {'host': 'node2'})
        self.assertEqual({'driver_volume_type': 'local',
                          'data': {'device_path':
                                   '/dev/mapper/dlsm-%s' % vol.name_id,
                                   'access_mode': 'rw'}}, conn)
        self.assertEqual(('node2', 'ACTIVE'), tuple(
            list(self.backend.migrations.values())[0][k]
            for k in ('targetNode', 'phase')))

    def test_local_attach_on_host_without_node_fails(self):
        vol = fake_volume.fake_volume_obj(self.ctx, host=self.host('node1'))
        vol.volume_attachment = attachments()
        self.driver.create_volume(vol)
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.initialize_connection, vol,
                          {'host': 'elsewhere'})


class DLSMDriverFollowAlwaysTestCase(base.DriverTestCase):
    follow = 'always'

    def test_plain_attach_moves_volume_to_host_node(self):
        vol = fake_volume.fake_volume_obj(self.ctx, host=self.host('node1'))
        vol.volume_attachment = attachments()
        self.driver.create_volume(vol)
        conn = self.driver.initialize_connection(vol, {'host': 'node2'})
        self.assertEqual(self.backend.nodes['node2']['nbdHost'],
                         conn['data']['host'])


class DLSMDriverFollowNeverTestCase(base.DriverTestCase):
    follow = 'never'

    def test_live_migration_destination_reads_remotely(self):
        vol = fake_volume.fake_volume_obj(self.ctx, host=self.host('node1'))
        vol.volume_attachment = attachments('node1')
        self.driver.create_volume(vol)
        conn = self.driver.initialize_connection(vol, {'host': 'node2'})
        self.assertEqual(self.backend.nodes['node1']['nbdHost'],
                         conn['data']['host'])
        self.assertEqual({}, self.backend.migrations)
