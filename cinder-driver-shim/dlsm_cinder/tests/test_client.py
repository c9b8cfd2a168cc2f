"""DLSMClient over requests-mock: retries, errors, timeouts, token."""

from unittest import mock

import requests
import requests_mock
import testtools

from cinder import exception

from dlsm_cinder import client

URL = 'http://127.0.0.1:7800'


class DLSMClientTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.m = requests_mock.Mocker()
        self.m.start()
        self.addCleanup(self.m.stop)
        self.sleeps = []
        self.client = client.DLSMClient(URL + '/', token='t0k',
                                        connect_timeout=2, read_timeout=7,
                                        retries=3, backoff=0.5,
                                        sleep=self.sleeps.append)

    def test_bearer_token_and_json(self):
        self.m.get(URL + '/v1/health', json={'status': 'UP'})
        self.assertEqual({'status': 'UP'}, self.client.health())
        req = self.m.request_history[0]
        self.assertEqual('Bearer t0k', req.headers['Authorization'])
        self.assertEqual('application/json', req.headers['Accept'])

    def test_no_token_no_header(self):
        c = client.DLSMClient(URL)
        self.m.get(URL + '/v1/nodes', json=[])
        c.list_nodes()
        self.assertNotIn('Authorization', self.m.request_history[0].headers)

    def test_timeouts_passed_to_requests(self):
        with mock.patch.object(self.client.session, 'request') as req:
            req.return_value = mock.Mock(status_code=204, content=b'')
            self.client.delete_volume('v')
        self.assertEqual((2, 7), req.call_args[1]['timeout'])

    def test_create_volume_body(self):
        self.m.post(URL + '/v1/volumes', status_code=201, json={'name': 'v'})
        self.client.create_volume('v', 1024, 'n1')
        self.assertEqual({'name': 'v', 'sizeBytes': 1024, 'node': 'n1'},
                         self.m.request_history[0].json())

    def test_retries_5xx_with_exponential_backoff(self):
        self.m.get(URL + '/v1/volumes/v', [
            {'status_code': 503, 'text': 'down'},
            {'status_code': 502, 'json': {'code': 'NODE_FAILED',
                                          'message': 'x'}},
            {'status_code': 200, 'json': {'name': 'v'}}])
        self.assertEqual({'name': 'v'}, self.client.get_volume('v'))
        self.assertEqual(3, self.m.call_count)
        self.assertEqual([0.5, 1.0], self.sleeps)

    def test_5xx_after_retries_raises_with_backend_message(self):
        self.m.post(URL + '/v1/migrations', status_code=502,
                    json={'code': 'NODE_FAILED',
                          'message': 'node2 did not answer'})
        e = self.assertRaises(exception.VolumeBackendAPIException,
                              self.client.create_migration, 'v', 'node2')
        self.assertIn('node2 did not answer', str(e))
        self.assertEqual(502, e.status_code)
        self.assertEqual('NODE_FAILED', e.code)
        self.assertEqual(4, self.m.call_count)   # 1 + 3 retries
        self.assertEqual([0.5, 1.0, 2.0], self.sleeps)

    def test_connection_error_retried(self):
        self.m.get(URL + '/v1/nodes', [
            {'exc': requests.exceptions.ConnectionError('refused')},
            {'exc': requests.exceptions.ConnectTimeout('slow')},
            {'json': [{'name': 'n1'}]}])
        self.assertEqual([{'name': 'n1'}], self.client.list_nodes())
        self.assertEqual(2, len(self.sleeps))

    def test_read_timeout_exhausts_retries(self):
        self.m.get(URL + '/v1/nodes',
                   exc=requests.exceptions.ReadTimeout('slow'))
        e = self.assertRaises(client.DLSMAPIException,
                              self.client.list_nodes)
        self.assertIn('unreachable after 4 attempts', str(e))
        self.assertIsNone(e.status_code)

    def test_4xx_not_retried(self):
        self.m.put(URL + '/v1/volumes/v/size', status_code=409,
                   json={'code': 'CONFLICT',
                         'message': 'volume v is migrating'})
        e = self.assertRaises(client.DLSMAPIException,
                              self.client.extend_volume, 'v', 10)
        self.assertEqual(1, self.m.call_count)
        self.assertEqual(409, e.status_code)
        self.assertIn('volume v is migrating', str(e))
        self.assertEqual('volume v is migrating', e.backend_message)

    def test_error_without_json_body(self):
        self.m.get(URL + '/v1/health', status_code=401, text='nope')
        e = self.assertRaises(client.DLSMAPIException, self.client.health)
        self.assertIn('nope', str(e))

    def test_delete_404_is_success(self):
        self.m.delete(URL + '/v1/volumes/v', status_code=404,
                      json={'code': 'NOT_FOUND', 'message': 'no'})
        self.assertIsNone(self.client.delete_volume('v'))
        self.m.delete(URL + '/v1/volumes/v/snapshots/s', status_code=404)
        self.assertIsNone(self.client.delete_snapshot('v', 's'))
        self.m.delete(URL + '/v1/volumes/v/connection/n1', status_code=404)
        self.assertIsNone(self.client.disconnect('v', 'n1'))

    def test_disconnect_failure_names_the_node(self):
        self.m.delete(URL + '/v1/volumes/v/connection/n1', status_code=502,
                      json={'code': 'NODE_FAILED',
                            'message': "node 'n1': device busy"})
        self.client.retries = 0
        e = self.assertRaises(client.DLSMAPIException,
                              self.client.disconnect, 'v', 'n1')
        self.assertIn("node 'n1'", str(e))

    def test_get_missing_volume_and_node_is_none(self):
        self.m.get(URL + '/v1/volumes/v', status_code=404)
        self.m.get(URL + '/v1/nodes/n', status_code=404)
        self.assertIsNone(self.client.get_volume('v'))
        self.assertIsNone(self.client.get_node('n'))

    def test_non_json_success_body(self):
        self.m.get(URL + '/v1/health', text='<html>')
        self.assertRaises(client.DLSMAPIException, self.client.health)

    def test_migration_calls(self):
        self.m.post(URL + '/v1/migrations', status_code=201,
                    json={'id': 'm1', 'phase': 'PREPARED'})
        self.m.post(URL + '/v1/migrations/m1/switch', json={'id': 'm1'})
        self.m.post(URL + '/v1/migrations/m1/abort', json={'id': 'm1'})
        self.client.create_migration('v', 'n2', bandwidth=5)
        self.assertEqual({'volume': 'v', 'targetNode': 'n2',
                          'switchMode': 'auto',
                          'bandwidthBytesPerSecond': 5},
                         self.m.request_history[0].json())
        self.client.switch_migration('m1')
        self.client.abort_migration('m1')
        self.assertEqual(['/v1/migrations', '/v1/migrations/m1/switch',
                          '/v1/migrations/m1/abort'],
                         [r.path for r in self.m.request_history])

    def test_connection_body(self):
        self.m.post(URL + '/v1/volumes/v/connection',
                    json={'driverVolumeType': 'nbd', 'data': {}})
        self.client.connection('v', 'n1', 'nbd')
        self.assertEqual({'host': 'n1', 'mode': 'nbd'},
                         self.m.request_history[0].json())
