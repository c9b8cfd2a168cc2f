"""Cinder volume driver for DLSM (Decoupled Live Storage Migration).

A thin driver: every operation is one or two calls to the DLSM REST backend
(dlsm_cinder.client), which owns all state. Cinder pools are the backend's
nodes, so "cinder migrate VOL host@dlsm#nodeB" means "move it to node B", and
a Nova live migration makes the volume follow the instance (see README.md).
"""

import urllib.parse

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import strutils
from oslo_utils import units

from cinder import exception
from cinder.i18n import _
from cinder.image import image_utils
from cinder import interface
from cinder.volume import driver
from cinder.volume import volume_utils

from dlsm_cinder import client as dlsm_client
from dlsm_cinder import options

LOG = logging.getLogger(__name__)

# Migration phases after which nothing is left to switch or abort.
FINISHED_PHASES = frozenset(('COMMITTED', 'ABORTED', 'FAILED'))
# After the switch: the target node holds the only writable copy.
SWITCHED_PHASES = frozenset(('ACTIVE', 'DEGRADED', 'HYDRATED'))


@interface.volumedriver
class DLSMDriver(driver.VolumeDriver):
    """DLSM volumes served by blockd nodes, one Cinder pool per node.

    Version history:

    .. code-block:: none

        1.0.0 - Initial driver: volumes, NBD/local connections, driver-assisted
                migration, volume follows a live-migrated instance.
        1.1.0 - Live migrations switch only on Nova's own signal (the source's
                terminate_connection); a rollback after the switch migrates
                back; the volume's host and provider_location follow the data.
    """

    VERSION = '1.1.0'
    CI_WIKI_NAME = 'DLSM_CI'
    VENDOR = 'DLSM'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(options.dlsm_opts)
        self.client = None
        self._stats = {}

    @staticmethod
    def get_driver_options():
        return options.dlsm_opts

    # -- setup -------------------------------------------------------------

    def do_setup(self, context):
        conf = self.configuration
        verify = conf.dlsm_verify_ssl
        # A bool-like string means on/off; anything else is a CA bundle path.
        if verify.lower() in ('true', 'false', 'yes', 'no', '1', '0'):
            verify = strutils.bool_from_string(verify)
        self.client = dlsm_client.DLSMClient(
            conf.dlsm_backend_url, token=conf.dlsm_token,
            connect_timeout=conf.dlsm_connect_timeout,
            read_timeout=conf.dlsm_read_timeout,
            retries=conf.dlsm_retries, backoff=conf.dlsm_retry_backoff,
            verify=verify)

    def check_for_setup_error(self):
        health = self.client.health()
        LOG.info('DLSM backend %(u)s: %(h)s',
                 {'u': self.configuration.dlsm_backend_url, 'h': health})
        # No node yet is not fatal: blockd daemons register on their own and
        # the scheduler sees them at the next stats refresh.
        if not self.client.list_nodes():
            LOG.warning('DLSM backend %s has no nodes registered yet',
                        self.configuration.dlsm_backend_url)

    # -- naming ------------------------------------------------------------

    @staticmethod
    def _name(volume):
        # name_id, not id: generic migration swaps the ids of two volumes.
        return volume.name_id

    @staticmethod
    def _snap_name(snapshot):
        return 'snapshot-%s' % snapshot.id

    @property
    def _mode(self):
        return self.configuration.dlsm_connection_mode

    def _location_info(self, node):
        # Identifies the backend, so migrate_volume can tell one of its own
        # pools from another backend's.
        return 'DLSMDriver:%s:%s' % (self.configuration.dlsm_backend_url,
                                     node)

    def _node_for_host(self, host):
        """DLSM node name of a connector's host (or None if unknown)."""
        if not host:
            return None
        mapping = self.configuration.dlsm_host_node_map or {}
        return mapping.get(host, host)

    def _pool_of(self, volume):
        pool = volume_utils.extract_host(volume.host, 'pool')
        if not pool:
            raise exception.VolumeBackendAPIException(
                data=_('volume %s has no pool in its host; DLSM pools are '
                       'nodes') % volume.id)
        return pool

    def _backend_volume(self, volume):
        vol = self.client.get_volume(self._name(volume))
        if vol is None:
            raise exception.VolumeNotFound(volume_id=volume.id)
        return vol

    def _record(self, volume, node):
        """The model update naming `node` as the pool holding the data."""
        backend = volume_utils.extract_host(volume.host, 'backend')
        return {'host': volume_utils.append_host(backend, node),
                'provider_location': node}

    def _save_record(self, volume, node):
        """Points Cinder's record at the node the data lives on now.

        Cinder never learns on its own that a live migration moved the data:
        its manager saves no model update from terminate_connection. The pool
        in volume.host is what `cinder migrate` compares with, what clones
        and pool capacity follow, so the driver saves it itself.
        """
        update = self._record(volume, node)
        if all(getattr(volume, k) == v for k, v in update.items()):
            return
        LOG.info('DLSM volume %(v)s: its data is on node %(n)s, Cinder '
                 'records host %(h)s', {'v': self._name(volume), 'n': node,
                                        'h': update['host']})
        volume.update(update)
        volume.save()

    def _data_node(self, bvol):
        """The node holding the authoritative copy of a backend volume."""
        mig = self._open_migration(bvol)
        if mig and mig.get('phase') in SWITCHED_PHASES:
            return mig['targetNode']
        return bvol['node']

    def _open_migration(self, bvol):
        """The backend's unfinished migration of a volume, or None."""
        mig_id = bvol.get('migrationId')
        if not mig_id:
            return None
        mig = self.client.get_migration(mig_id)
        if mig and mig.get('phase') in FINISHED_PHASES:
            return None
        return mig

    # -- volumes -----------------------------------------------------------

    def create_volume(self, volume):
        node = self._pool_of(volume)
        self.client.create_volume(self._name(volume), volume.size * units.Gi,
                                  node)
        return {'provider_location': node}

    def delete_volume(self, volume):
        name = self._name(volume)
        try:
            self.client.delete_volume(name)
        except dlsm_client.DLSMAPIException as e:
            if e.status_code != 409:
                raise
            # 409: a migration is running. One that is only PREPARED has not
            # moved anything yet (the source is authoritative), so dropping it
            # costs nothing; after the switch the data is split across two
            # nodes and the user should retry once the copy is done.
            bvol = self.client.get_volume(name)
            mig = self._open_migration(bvol) if bvol else None
            if not mig or mig.get('phase') != 'PREPARED':
                raise exception.VolumeIsBusy(volume_name=volume.name)
            self.client.abort_migration(mig['id'])
            self.client.delete_volume(name)

    def extend_volume(self, volume, new_size):
        self.client.extend_volume(self._name(volume), new_size * units.Gi)

    def create_export(self, context, volume, connector):
        # blockd exports every volume on its node already and the backend
        # picks the export per connection: nothing per host to do here. The
        # manager saves what this returns, so every attach also brings
        # Cinder's record in line with where the data is.
        bvol = self.client.get_volume(self._name(volume))
        if bvol is None:
            return None
        update = self._record(volume, self._data_node(bvol))
        if all(getattr(volume, k) == v for k, v in update.items()):
            return None
        return update

    def ensure_export(self, context, volume):
        pass

    def remove_export(self, context, volume):
        # Called after terminate_connection for every host; kept free of
        # per-host work on purpose (it cannot tell which host it is for).
        pass

    # -- snapshots and clones (backend API, docs/backend-api.md) --

    def create_snapshot(self, snapshot):
        self.client.create_snapshot(self._name(snapshot.volume),
                                    self._snap_name(snapshot))

    def delete_snapshot(self, snapshot):
        self.client.delete_snapshot(self._name(snapshot.volume),
                                    self._snap_name(snapshot))

    def create_volume_from_snapshot(self, volume, snapshot):
        node = self._pool_of(volume)
        # sizeBytes may exceed the snapshot's size: the backend grows the new
        # volume, so no separate extend call (and no window where it is small).
        self.client.create_volume(
            self._name(volume), volume.size * units.Gi, node,
            source={'volume': self._name(snapshot.volume),
                    'snapshot': self._snap_name(snapshot)})
        return {'provider_location': node}

    def create_cloned_volume(self, volume, src_vref):
        node = self._pool_of(volume)
        self.client.create_volume(
            self._name(volume), volume.size * units.Gi, node,
            source={'volume': self._name(src_vref)})
        return {'provider_location': node}

    # -- connections and the Nova live-migration flow ----------------------

    def validate_connector(self, connector):
        if not connector or not connector.get('host'):
            raise exception.InvalidConnectorException(missing='host')

    @staticmethod
    def _attached_elsewhere(volume, host):
        """True if the volume is attached to a host other than `host`.

        During a live migration Nova creates the destination's attachment
        while the source's one is still "attached": that is how a live
        migration looks from inside Cinder.
        """
        # "attaching" counts too: the host is connected already, only Nova's
        # os-complete is missing, and a non-multiattach volume has a second
        # attachment only while its instance live-migrates.
        for att in volume.volume_attachment or []:
            if (att.attach_status in ('attached', 'attaching') and
                    att.attached_host and att.attached_host != host):
                return True
        return False

    def _other_attached_node(self, volume, host):
        """Node of the volume's other attachment while `host` lets go.

        A (non-multiattach) volume has two attachments only while its
        instance live-migrates. When one of them goes, the other one is the
        host Nova runs the instance on from now on: on success the source
        goes and the destination stays, on rollback the other way round.
        """
        for att in volume.volume_attachment or []:
            if (att.attach_status in ('attached', 'attaching') and
                    att.attached_host and att.attached_host != host):
                return self._node_for_host(att.attached_host)
        return None

    def _should_follow(self, volume, host):
        if self._mode == 'local':
            return True   # the device must exist on the connecting host
        policy = self.configuration.dlsm_follow_instance
        if policy == 'always':
            return True
        if policy == 'live-migration':
            return self._attached_elsewhere(volume, host)
        return False

    def initialize_connection(self, volume, connector, **kwargs):
        name = self._name(volume)
        host = connector['host']
        node = self._node_for_host(host)
        bvol = self._backend_volume(volume)

        if bvol['node'] != node and self._should_follow(volume, host):
            if self.client.get_node(node) is not None:
                # Prepare a PROXY sink on the destination: nothing is copied
                # until the source side lets go. A live migration switches
                # only on Nova's word that the instance runs here (the
                # source's terminate_connection): "manual". A connection
                # count on the source cannot tell a guest that moved from
                # one that dropped its connection or is paused, and a switch
                # Nova then rolls back would strand the disk here.
                live = self._attached_elsewhere(volume, host)
                mig = self.client.create_migration(
                    name, node, switch_mode='manual' if live else 'auto',
                    bandwidth=self.configuration.dlsm_migration_bandwidth)
                LOG.info('DLSM volume %(v)s follows host %(h)s: migration '
                         '%(m)s to node %(n)s is %(p)s',
                         {'v': name, 'h': host, 'm': mig.get('id'),
                          'n': node, 'p': mig.get('phase')})
            elif self._mode == 'local':
                raise exception.VolumeBackendAPIException(
                    data=_('host %(h)s (node %(n)s) runs no DLSM node, so it '
                           'cannot attach a local device; map it with '
                           'dlsm_host_node_map') % {'h': host, 'n': node})

        conn = self.client.connection(name, node, self._mode)
        return self._to_cinder_connection(conn)

    @staticmethod
    def _to_cinder_connection(conn):
        vtype = conn.get('driverVolumeType') or conn.get('driver_volume_type')
        data = dict(conn.get('data') or {})
        if vtype == 'nbd':
            export = data.get('export') or data.get('name')
            data['export'] = export
            # name/hosts/ports is the shape libvirt network disks are built
            # from (Nova's LibvirtNetVolumeDriver); host/port/export is the
            # backend's own. Both, so either consumer finds its keys.
            data['name'] = export
            data['hosts'] = [data['host']]
            data['ports'] = [str(data['port'])]
        data.setdefault('access_mode', 'rw')
        return {'driver_volume_type': vtype, 'data': data}

    def terminate_connection(self, volume, connector, **kwargs):
        if not connector:
            # Force-detach from every host: no migration decision to take,
            # and no host named whose device could be torn down.
            LOG.info('DLSM volume %s force-detached without a connector',
                     self._name(volume))
            return
        name = self._name(volume)
        host = connector.get('host')
        node = self._node_for_host(host)
        bvol = self.client.get_volume(name)
        if bvol is None:
            return
        # The rule (docs/openstack.md): when one of two attachments goes,
        # the data must end on the node of the one that stays, where Nova
        # runs the instance.
        stays = self._other_attached_node(volume, host)
        mig = self._open_migration(bvol)
        if (mig is not None and stays is None and
                node == mig.get('targetNode') and
                mig.get('phase') == 'PREPARED'):
            # The only connection the sink served goes (a plain attach that
            # made the volume follow, then a detach before the switch): the
            # source is still authoritative, drop the sink.
            self._remove_device(name, node)
            self._migration_call(self.client.abort_migration, mig)
            return
        if mig is not None and stays is not None and stays != node:
            phase = mig.get('phase')
            if node == mig.get('targetNode') and stays == mig.get(
                    'sourceNode'):
                # Rollback. Before the switch the source never stopped
                # being authoritative; after it the backend copies the
                # regions written here back (or, for a sink dm-clone copies,
                # lets it commit and migrates back). Its device reads
                # through the sink: remove it before the sink goes.
                self._remove_device(name, node)
                self._migration_call(self.client.abort_migration, mig)
                done = self.client.get_migration(mig['id']) or {}
                if (done.get('phase') == 'COMMITTED' and
                        not done.get('migrateBack')):
                    # The copy committed before the abort reached it.
                    self._migrate_back(name, stays)
                self._save_record(volume, stays)
                return
            if node == mig.get('sourceNode') and stays == mig.get(
                    'targetNode'):
                # Post-live-migration: the instance runs on the destination
                # and the source lets go. Fence the source, activate the sink.
                if phase == 'PREPARED':
                    self._migration_call(self.client.switch_migration, mig)
                self._save_record(volume, stays)
        elif (mig is None and stays is not None and stays != node and
                bvol['node'] == node and self.client.get_node(stays)):
            # Rollback after the migration committed (an operator switched
            # it early and the copy finished): the data is here, the
            # instance stays there. Migrate it back and switch at once:
            # nothing writes here any more.
            self._remove_device(name, node)
            self._migrate_back(name, stays)
            self._save_record(volume, stays)
            return
        self._remove_device(name, node)

    def _migrate_back(self, name, node):
        """A migration to `node`, where the instance stays, switched at once.

        Nothing writes on the node the data is on any more (its attachment
        is the one going), and the instance reaches its disk through the
        sink on `node` as soon as the migration is prepared.
        """
        back = self.client.create_migration(
            name, node, switch_mode='manual',
            bandwidth=self.configuration.dlsm_migration_bandwidth)
        if back.get('phase') == 'PREPARED':
            self._migration_call(self.client.switch_migration, back)
        LOG.info('DLSM volume %(v)s migrates back to node %(n)s, where the '
                 'instance stays: migration %(m)s',
                 {'v': name, 'n': node, 'm': back.get('id')})

    def _remove_device(self, name, node):
        # Only "local" connections have a kernel device on the host's node;
        # an nbd connection is QEMU's own socket, gone with the instance.
        if self._mode == 'local':
            self.client.disconnect(name, node)

    def _migration_call(self, call, mig):
        try:
            call(mig['id'])
        except dlsm_client.DLSMAPIException as e:
            # 409: the backend moved on by itself meanwhile (switchMode
            # "auto" switched when the source's writer left). Fine if so.
            if e.status_code != 409:
                raise
            LOG.info('DLSM migration %(m)s already moved on: %(e)s',
                     {'m': mig['id'], 'e': e.backend_message})

    # -- images --------------------------------------------------------------
    #
    # Cinder's generic image copy attaches the volume to the cinder-volume
    # host through os-brick, which has no NBD connector (and in "local" mode
    # that host would need a device-mapper path of its own). qemu-img speaks
    # NBD itself, so the copy goes straight to the volume's export.

    def _nbd_uri(self, volume):
        """qemu-img's URI of the volume's export on the node holding it."""
        name = self._name(volume)
        node = self._backend_volume(volume)['node']
        data = self.client.connection(name, node, 'nbd').get('data') or {}
        host = data['host']
        if ':' in host:
            host = '[%s]' % host
        return 'nbd://%s:%s/%s' % (host, data['port'],
                                   urllib.parse.quote(data['export'], safe=''))

    def copy_image_to_volume(self, context, volume, image_service, image_id):
        with image_utils.temporary_file(prefix='dlsm_image_') as tmp:
            image_utils.fetch(context, image_service, image_id, tmp,
                              None, None)
            meta = image_service.show(context, image_id)
            # qemu-img's view of the file, from format inspection first: a
            # format other than the one Glance claims, a backing file or a
            # qcow2 data file are refused before anything is written.
            info = image_utils.qemu_img_info(tmp, run_as_root=False)
            if info.backing_file is not None:
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason=_('fmt=%(fmt)s backed by: %(backing)s') %
                    {'fmt': info.file_format, 'backing': info.backing_file})
            claimed = meta.get('disk_format')
            image_utils.check_image_format(
                tmp, src_format=(image_utils.fixup_disk_format(claimed)
                                 if claimed else None),
                image_id=image_id, data=info, run_as_root=False)
            image_utils.check_virtual_size(info.virtual_size, volume.size,
                                           image_id)
            # -n: the volume exists; -f: never let qemu-img guess a format.
            processutils.execute('qemu-img', 'convert', '-n',
                                 '-f', info.file_format, '-O', 'raw',
                                 tmp, self._nbd_uri(volume))
        LOG.info('DLSM volume %(v)s: image %(i)s written over NBD',
                 {'v': self._name(volume), 'i': image_id})

    def copy_image_to_encrypted_volume(self, context, volume, image_service,
                                       image_id):
        raise exception.VolumeBackendAPIException(
            data=_('DLSM cannot write an image into encrypted volume %s: the '
                   'encryptor needs a block device on the cinder-volume '
                   'host, and DLSM volumes are reached over NBD there')
            % volume.id)

    def copy_volume_to_image(self, context, volume, image_service,
                             image_meta):
        with image_utils.temporary_file(prefix='dlsm_upload_') as tmp:
            processutils.execute('qemu-img', 'convert', '-f', 'raw',
                                 '-O', 'raw', self._nbd_uri(volume), tmp)
            # upload_volume converts to the image's disk_format when needed.
            image_utils.upload_volume(context, image_service, image_meta,
                                      tmp, volume_format='raw',
                                      run_as_root=False)

    # -- admin migration and retype ----------------------------------------

    def _own_pool(self, host):
        """Destination node if `host` is a pool of this backend, else None."""
        caps = host.get('capabilities') or {}
        loc = caps.get('location_info') or ''
        node = volume_utils.extract_host(host['host'], 'pool')
        if not node or loc != self._location_info(node):
            return None
        return node

    def migrate_volume(self, context, volume, host):
        node = self._own_pool(host)
        if node is None:
            return False, None   # another backend: Cinder's generic copy
        if volume.status == 'in-use':
            # Debian's Zed asks even for attached volumes. The instance keeps
            # using the source; only its own move (live migration) may fence
            # it, so let Cinder use its generic path (Nova swap_volume).
            LOG.info('DLSM declines to move attached volume %s', volume.id)
            return False, None
        name = self._name(volume)
        bvol = self._backend_volume(volume)
        if bvol['node'] != node:
            mig = self.client.create_migration(
                name, node, switch_mode='auto',
                bandwidth=self.configuration.dlsm_migration_bandwidth)
            if mig.get('phase') == 'PREPARED':
                # "auto" switches at once when nobody writes; if a stale
                # writer keeps it PREPARED, an available volume has no
                # legitimate one, so switch explicitly.
                self._migration_call(self.client.switch_migration, mig)
        # The volume is usable on the target now; the copy finishes in the
        # background (GET /v1/migrations/{id} shows its progress). Cinder
        # sets volume.host to the destination pool itself.
        return True, {'provider_location': node}

    def update_migrated_volume(self, ctxt, volume, new_volume,
                               original_volume_status):
        # Generic migration only (ours returns True above). The backend has
        # no rename, so the volume keeps the new backend object's name.
        return {'_name_id': new_volume.name_id,
                'provider_location': new_volume.provider_location}

    def retype(self, context, volume, new_type, diff, host):
        changed = any((diff or {}).get(k) for k in
                      ('extra_specs', 'qos_specs', 'encryption'))
        if changed:
            return False, None
        node = self._own_pool(host)
        if node is None:
            return False, None
        if node == volume_utils.extract_host(volume.host, 'pool'):
            return True, None
        moved, update = self.migrate_volume(context, volume, host)
        return moved, update

    # -- stats -------------------------------------------------------------

    def _update_volume_stats(self):
        conf = self.configuration
        backend_name = conf.safe_get('volume_backend_name') or 'DLSM'
        pools = []
        total = free = 0.0
        for node in self.client.list_nodes():
            up = node.get('state') == 'UP'
            cap = node.get('capacityBytes')
            fre = node.get('freeBytes')
            pool = {
                'pool_name': node['name'],
                'location_info': self._location_info(node['name']),
                'total_capacity_gb':
                    round(cap / units.Gi, 2) if cap is not None
                    else 'unknown',
                # A DOWN node must not get new volumes: no free space.
                'free_capacity_gb':
                    0 if not up else (round(fre / units.Gi, 2)
                                      if fre is not None else 'unknown'),
                'reserved_percentage': conf.safe_get('reserved_percentage')
                or 0,
                'thin_provisioning_support': True,
                'thick_provisioning_support': False,
                'max_over_subscription_ratio':
                    conf.safe_get('max_over_subscription_ratio') or 20.0,
                'QoS_support': False,
                'multiattach': False,
                'online_extend_support': self._mode != 'local',
                'backend_state': 'up' if up else 'down',
            }
            pools.append(pool)
            if isinstance(pool['total_capacity_gb'], float):
                total += pool['total_capacity_gb']
            if isinstance(pool['free_capacity_gb'], (int, float)):
                free += pool['free_capacity_gb']
        self._stats = {
            'volume_backend_name': backend_name,
            'vendor_name': self.VENDOR,
            'driver_version': self.VERSION,
            'storage_protocol': self._mode,
            'total_capacity_gb': round(total, 2) if pools else 0,
            'free_capacity_gb': round(free, 2) if pools else 0,
            'reserved_percentage': conf.safe_get('reserved_percentage') or 0,
            'thin_provisioning_support': True,
            'multiattach': False,
            'online_extend_support': self._mode != 'local',
            'sparse_copy_volume': True,
            'pools': pools,
        }

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats
