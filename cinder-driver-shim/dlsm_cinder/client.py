"""HTTP client of the DLSM REST backend (docs/backend-api.md, v1).

Kept apart from the driver so that the driver only speaks Cinder and this
module only speaks HTTP. Every backend call is idempotent by contract, which
is what makes the blanket retry below safe, POSTs included.
"""

import time

from oslo_log import log as logging
import requests

from cinder import exception
from cinder.i18n import _

LOG = logging.getLogger(__name__)

# 5xx answers worth another try: the backend restarting behind a proxy (502,
# 503, 504) or a node that failed for a moment (the backend's own 502).
RETRY_STATUSES = frozenset((500, 502, 503, 504))


class DLSMAPIException(exception.VolumeBackendAPIException):
    """A backend error, keeping its HTTP status and stable error code."""

    def __init__(self, message=None, status_code=None, code=None,
                 backend_message=None, **kwargs):
        self.status_code = status_code
        self.code = code
        # The backend's own words, without our method/path prefix.
        self.backend_message = backend_message or message
        super().__init__(data=message, **kwargs)


class DLSMClient(object):
    """requests.Session wrapper: base URL, bearer token, timeouts, retries."""

    def __init__(self, base_url, token=None, connect_timeout=5.0,
                 read_timeout=60.0, retries=3, backoff=0.5, verify=True,
                 session=None, sleep=time.sleep):
        self.base_url = base_url.rstrip('/')
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self.session = session or requests.Session()
        self.session.verify = verify
        self.session.headers['Accept'] = 'application/json'
        self.session.headers['User-Agent'] = 'dlsm-cinder-driver'
        if token:
            self.session.headers['Authorization'] = 'Bearer %s' % token

    # -- transport ---------------------------------------------------------

    def request(self, method, path, body=None, ok_statuses=()):
        """One logical call; returns the decoded JSON body or None.

        ok_statuses: error statuses that the caller treats as success (the
        response is returned as None), e.g. 404 on DELETE.
        """
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                resp = self.session.request(method, url, json=body,
                                            timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                if attempt < self.retries:
                    self._wait(attempt, method, path, e)
                    attempt += 1
                    continue
                raise DLSMAPIException(
                    _('%(m)s %(p)s: backend at %(u)s unreachable after '
                      '%(n)d attempts: %(e)s') %
                    {'m': method, 'p': path, 'u': self.base_url,
                     'n': attempt + 1, 'e': e})
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                self._wait(attempt, method, path,
                           'HTTP %d' % resp.status_code)
                attempt += 1
                continue
            break

        if resp.status_code in ok_statuses:
            return None
        if resp.status_code >= 400:
            raise self._error(method, path, resp)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise DLSMAPIException(
                _('%(m)s %(p)s: backend sent a non-JSON body') %
                {'m': method, 'p': path}, status_code=resp.status_code)

    def _wait(self, attempt, method, path, why):
        delay = self.backoff * (2 ** attempt)
        LOG.warning('DLSM backend call %(m)s %(p)s failed (%(w)s); retry '
                    '%(a)d/%(n)d in %(d).1fs',
                    {'m': method, 'p': path, 'w': why, 'a': attempt + 1,
                     'n': self.retries, 'd': delay})
        self._sleep(delay)

    @staticmethod
    def _error(method, path, resp):
        code = None
        message = resp.text.strip() or resp.reason
        try:
            doc = resp.json()
            if isinstance(doc, dict):
                code = doc.get('code')
                message = doc.get('message') or message
        except ValueError:
            pass
        return DLSMAPIException(
            _('%(m)s %(p)s: HTTP %(s)d %(c)s: %(msg)s') %
            {'m': method, 'p': path, 's': resp.status_code,
             'c': code or '', 'msg': message},
            status_code=resp.status_code, code=code, backend_message=message)

    # -- API ---------------------------------------------------------------

    def health(self):
        return self.request('GET', '/v1/health')

    def list_nodes(self):
        return self.request('GET', '/v1/nodes') or []

    def get_node(self, name):
        """The node, or None when the backend does not know it."""
        return self.request('GET', '/v1/nodes/%s' % name, ok_statuses=(404,))

    def create_volume(self, name, size_bytes, node, source=None):
        body = {'name': name, 'sizeBytes': size_bytes, 'node': node}
        if source:
                body['source'] = source
        return self.request('POST', '/v1/volumes', body)

    def get_volume(self, name):
        """The volume, or None when it does not exist."""
        return self.request('GET', '/v1/volumes/%s' % name,
                            ok_statuses=(404,))

    def list_volumes(self):
        return self.request('GET', '/v1/volumes') or []

    def extend_volume(self, name, size_bytes):
        return self.request('PUT', '/v1/volumes/%s/size' % name,
                            {'sizeBytes': size_bytes})

    def delete_volume(self, name):
        # 404: already gone, which is what the caller wanted.
        self.request('DELETE', '/v1/volumes/%s' % name, ok_statuses=(404,))

    def connection(self, name, host, mode):
        return self.request('POST', '/v1/volumes/%s/connection' % name,
                            {'host': host, 'mode': mode})

    def disconnect(self, name, host):
        """Tear down host's kernel device of the volume, if it has one.

        404 (the volume is gone) leaves nothing to tear down either.
        """
        self.request('DELETE', '/v1/volumes/%s/connection/%s' % (name, host),
                     ok_statuses=(404,))

    def create_snapshot(self, volume, name):
        return self.request('POST', '/v1/volumes/%s/snapshots' % volume,
                            {'name': name})

    def delete_snapshot(self, volume, name):
        self.request('DELETE', '/v1/volumes/%s/snapshots/%s' % (volume, name),
                     ok_statuses=(404,))

    def create_migration(self, volume, target_node, switch_mode='auto',
                         bandwidth=None):
        body = {'volume': volume, 'targetNode': target_node,
                'switchMode': switch_mode}
        if bandwidth:
            body['bandwidthBytesPerSecond'] = bandwidth
        return self.request('POST', '/v1/migrations', body)

    def get_migration(self, migration_id):
        return self.request('GET', '/v1/migrations/%s' % migration_id)

    def list_migrations(self):
        return self.request('GET', '/v1/migrations') or []

    def switch_migration(self, migration_id):
        return self.request('POST', '/v1/migrations/%s/switch' % migration_id)

    def abort_migration(self, migration_id):
        return self.request('POST', '/v1/migrations/%s/abort' % migration_id)
