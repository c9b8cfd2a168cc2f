"""In-memory DLSM REST backend behind requests-mock.

It implements docs/backend-api.md closely enough for the driver's tests
(including the proposed snapshot/clone extension), so the driver is tested
through the real client and real HTTP semantics (status codes, JSON errors),
and every call is recorded for call-order assertions.
"""

import itertools
import json
import re

import requests_mock

GiB = 1024 ** 3
UNFINISHED = ('PREPARED', 'ACTIVE', 'HYDRATED', 'DEGRADED')


class FakeBackend(object):

    def __init__(self, base_url='http://127.0.0.1:7800', token=None):
        self.base_url = base_url.rstrip('/')
        self.token = token
        self.nodes = {}
        self.volumes = {}
        self.snapshots = {}
        self.migrations = {}
        self.calls = []            # [(method, path, body)]
        self.writers = {}          # volume -> node whose VM writes it
        self.devices = set()       # (volume, node) with a local device
        self.fail_next = []        # status codes to answer before real work
        self.dm_clone = set()      # nodes whose sinks dm-clone copies
        self.commits_first = False  # the copy commits before an abort lands
        self._ids = itertools.count(1)

    # -- test set-up helpers ----------------------------------------------

    def add_node(self, name, capacity=100 * GiB, free=80 * GiB, state='UP'):
        self.nodes[name] = {
            'name': name, 'apiUrl': 'http://127.0.0.1:1/%s' % name,
            'nbdHost': '127.0.0.%d' % (len(self.nodes) + 1),
            'nbdPort': 10809, 'state': state, 'lastHeartbeat': 'now',
            'capacityBytes': capacity, 'freeBytes': free,
            'capabilities': {'nbd': True, 'deviceMapper': False,
                             'dmClone': False}}

    def install(self, mocker):
        mocker.add_matcher(self._match)

    def paths(self):
        """Calls as 'METHOD /path', GETs left out (they change nothing)."""
        return ['%s %s' % (m, p) for m, p, _ in self.calls if m != 'GET']

    # -- dispatch -----------------------------------------------------------

    ROUTES = [
        ('GET', r'/v1/health$', '_health'),
        ('GET', r'/v1/nodes$', '_list_nodes'),
        ('GET', r'/v1/nodes/([^/]+)$', '_get_node'),
        ('POST', r'/v1/volumes$', '_create_volume'),
        ('GET', r'/v1/volumes$', '_list_volumes'),
        ('GET', r'/v1/volumes/([^/]+)$', '_get_volume'),
        ('DELETE', r'/v1/volumes/([^/]+)$', '_delete_volume'),
        ('PUT', r'/v1/volumes/([^/]+)/size$', '_extend_volume'),
        ('POST', r'/v1/volumes/([^/]+)/connection$', '_connection'),
        ('DELETE', r'/v1/volumes/([^/]+)/connection/([^/]+)$', '_disconnect'),
        ('POST', r'/v1/volumes/([^/]+)/snapshots$', '_create_snapshot'),
        ('DELETE', r'/v1/volumes/([^/]+)/snapshots/([^/]+)$',
         '_delete_snapshot'),
        ('POST', r'/v1/migrations$', '_create_migration'),
        ('GET', r'/v1/migrations$', '_list_migrations'),
        ('GET', r'/v1/migrations/([^/]+)$', '_get_migration'),
        ('POST', r'/v1/migrations/([^/]+)/switch$', '_switch'),
        ('POST', r'/v1/migrations/([^/]+)/abort$', '_abort'),
    ]

    def _match(self, request):
        if not request.url.startswith(self.base_url + '/v1/'):
            return None
        path = request.path_url
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, path, body))
        if self.token is not None and (request.headers.get('Authorization')
                                       != 'Bearer %s' % self.token):
            return self._err(request, 401, 'UNAUTHORIZED', 'bad token')
        if self.fail_next:
            return self._err(request, self.fail_next.pop(0), 'NODE_FAILED',
                             'injected failure')
        for method, pattern, handler in self.ROUTES:
            m = re.match(pattern, path)
            if m and method == request.method:
                try:
                    status, doc = getattr(self, handler)(body, *m.groups())
                except _Err as e:
                    return self._err(request, e.status, e.code, e.message)
                return self._resp(request, status, doc)
        return self._err(request, 404, 'NOT_FOUND', 'no route %s' % path)

    @staticmethod
    def _resp(request, status, doc):
        if doc is None:
            return requests_mock.create_response(request, status_code=status,
                                                 content=b'')
        return requests_mock.create_response(request, status_code=status,
                                             json=doc)

    @staticmethod
    def _err(request, status, code, message):
        return requests_mock.create_response(
            request, status_code=status,
            json={'code': code, 'message': message, 'details': {}})

    # -- handlers -----------------------------------------------------------

    def _health(self, body):
        return 200, {'status': 'UP', 'version': 'fake', 'uptimeSeconds': 1}

    def _list_nodes(self, body):
        return 200, list(self.nodes.values())

    def _get_node(self, body, name):
        if name not in self.nodes:
            raise _Err(404, 'NOT_FOUND', 'node %s' % name)
        return 200, self.nodes[name]

    def _vol(self, name):
        if name not in self.volumes:
            raise _Err(404, 'NOT_FOUND', 'volume %s' % name)
        return self.volumes[name]

    def _create_volume(self, body):
        name, size, node = body['name'], body['sizeBytes'], body['node']
        if node not in self.nodes:
            raise _Err(400, 'BAD_FIELD', 'unknown node %s' % node)
        if name in self.volumes:
            v = self.volumes[name]
            if (v['sizeBytes'], v['node']) == (size, node):
                return 200, v
            raise _Err(409, 'NAME_TAKEN', 'volume %s exists' % name)
        src = body.get('source')
        if src:
            svol = self._vol(src['volume'])
            if 'snapshot' in src:
                snap = self.snapshots.get((src['volume'], src['snapshot']))
                if snap is None:
                    raise _Err(404, 'NOT_FOUND', 'snapshot')
                base = snap['sizeBytes']
            else:
                base = svol['sizeBytes']
            if size < base:
                raise _Err(400, 'BAD_FIELD', 'smaller than its source')
        self.volumes[name] = {'name': name, 'sizeBytes': size, 'node': node,
                              'state': 'AVAILABLE', 'createdAt': 'now'}
        return 201, self.volumes[name]

    def _list_volumes(self, body):
        return 200, list(self.volumes.values())

    def _get_volume(self, body, name):
        return 200, self._vol(name)

    def _delete_volume(self, body, name):
        v = self._vol(name)
        if v['state'] == 'MIGRATING':
            raise _Err(409, 'CONFLICT', 'migrating')
        del self.volumes[name]
        return 204, None

    def _extend_volume(self, body, name):
        v = self._vol(name)
        if v['state'] == 'MIGRATING':
            raise _Err(409, 'CONFLICT', 'migrating')
        if body['sizeBytes'] < v['sizeBytes']:
            raise _Err(400, 'BAD_FIELD', 'grow only')
        v['sizeBytes'] = body['sizeBytes']
        return 200, v

    def _connection(self, body, name):
        v = self._vol(name)
        node = v['node']
        mig = self.migrations.get(v.get('migrationId'))
        # A host that is the target of an unfinished migration gets the
        # sink's export on its own node.
        if mig and body['host'] == mig['targetNode']:
            node = mig['targetNode']
        if body['mode'] == 'local':
            if node != body['host']:
                raise _Err(409, 'CONFLICT', 'local only on the owner node')
            self.devices.add((name, node))
            return 200, {'driverVolumeType': 'local',
                         'data': {'device_path': '/dev/mapper/dlsm-' + name}}
        n = self.nodes[node]
        return 200, {'driverVolumeType': 'nbd',
                     'data': {'host': n['nbdHost'], 'port': n['nbdPort'],
                              'export': name}}

    def _disconnect(self, body, name, host):
        self._vol(name)
        self.devices.discard((name, host))
        return 204, None

    def _create_snapshot(self, body, vname):
        v = self._vol(vname)
        key = (vname, body['name'])
        self.snapshots.setdefault(key, {'name': body['name'],
                                        'volume': vname,
                                        'sizeBytes': v['sizeBytes']})
        return 201, self.snapshots[key]

    def _delete_snapshot(self, body, vname, sname):
        if self.snapshots.pop((vname, sname), None) is None:
            raise _Err(404, 'NOT_FOUND', 'snapshot')
        return 204, None

    def _create_migration(self, body):
        v = self._vol(body['volume'])
        target = body['targetNode']
        if target not in self.nodes:
            raise _Err(400, 'BAD_FIELD', 'unknown node')
        cur = self.migrations.get(v.get('migrationId'))
        if cur and cur['phase'] in UNFINISHED:
            if cur['targetNode'] == target:
                return 200, cur
            raise _Err(409, 'CONFLICT', 'another migration runs')
        if v['node'] == target:
            raise _Err(409, 'CONFLICT', 'already there')
        mig = {'id': 'm%d' % next(self._ids), 'volume': v['name'],
               'sourceNode': v['node'], 'targetNode': target,
               'phase': 'PREPARED', 'switchMode': body.get('switchMode',
                                                          'auto'),
               'progress': {}}
        self.migrations[mig['id']] = mig
        v['state'] = 'MIGRATING'
        v['migrationId'] = mig['id']
        if mig['switchMode'] == 'auto' and v['name'] not in self.writers:
            self._activate(mig)
        return 201, mig

    def _activate(self, mig):
        # Like the real backend: the volume's node changes at the commit.
        mig['phase'] = 'ACTIVE'

    def commit(self, mig_id):
        """Test helper: the background copy finished."""
        mig = self.migrations[mig_id]
        mig['phase'] = 'COMMITTED'
        v = self.volumes[mig['volume']]
        v['state'] = 'AVAILABLE'
        v['node'] = mig['targetNode']
        v.pop('migrationId', None)
        if mig.get('migrateBack'):
            # MIGRATE_BACK: a migration to the source, switched at once.
            status, back = self._create_migration(
                {'volume': mig['volume'], 'targetNode': mig['sourceNode'],
                 'switchMode': 'manual'})
            self._activate(back)

    def _list_migrations(self, body):
        return 200, list(self.migrations.values())

    def _mig(self, mig_id):
        if mig_id not in self.migrations:
            raise _Err(404, 'NOT_FOUND', 'migration %s' % mig_id)
        return self.migrations[mig_id]

    def _get_migration(self, body, mig_id):
        return 200, self._mig(mig_id)

    def _switch(self, body, mig_id):
        mig = self._mig(mig_id)
        if mig['phase'] in ('ACTIVE', 'DEGRADED', 'HYDRATED'):
            return 200, mig
        if mig['phase'] != 'PREPARED':
            raise _Err(409, 'CONFLICT', 'migration is %s' % mig['phase'])
        self._activate(mig)
        return 200, mig

    def _abort(self, body, mig_id):
        mig = self._mig(mig_id)
        if mig['phase'] in ('ABORTED', 'FAILED') or mig.get('migrateBack'):
            return 200, mig
        if mig['phase'] == 'COMMITTED':
            raise _Err(409, 'CONFLICT', 'COMMITTED: migrate it back instead')
        if mig['phase'] != 'PREPARED' and self.commits_first:
            # The real backend's "abort came too late": it answers COMMITTED.
            self.commit(mig_id)
            return 200, mig
        if mig['phase'] != 'PREPARED' and mig['targetNode'] in self.dm_clone:
            mig['migrateBack'] = True
            return 200, mig
        # After the switch the real backend copies the target's writes back.
        mig['phase'] = 'ABORTED'
        v = self.volumes[mig['volume']]
        v['node'] = mig['sourceNode']
        v['state'] = 'AVAILABLE'
        v.pop('migrationId', None)
        return 200, mig


class _Err(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
