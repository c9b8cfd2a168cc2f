"""Shared set-up: a DLSMDriver on a real Cinder configuration, talking
through the real client to the in-memory FakeBackend (requests-mock)."""

import requests_mock

from cinder import context
from cinder.tests.unit import test
from cinder.volume import configuration as conf
from cinder.volume import driver as cinder_driver

from dlsm_cinder import driver
from dlsm_cinder import options
from dlsm_cinder.tests import fake_backend

URL = 'http://127.0.0.1:7800'
TOKEN = 'sekrit'
BACKEND = 'dlsm'


class DriverTestCase(test.TestCase):

    mode = 'nbd'
    follow = 'live-migration'

    def setUp(self):
        super().setUp()
        self.ctx = context.get_admin_context()
        self.backend = fake_backend.FakeBackend(URL, token=TOKEN)
        self.backend.add_node('node1')
        self.backend.add_node('node2')
        mocker = requests_mock.Mocker()
        mocker.start()
        self.addCleanup(mocker.stop)
        self.backend.install(mocker)
        self.configuration = self.make_configuration()
        self.driver = driver.DLSMDriver(configuration=self.configuration)
        self.driver.do_setup(self.ctx)
        self.driver.check_for_setup_error()

    def make_configuration(self):
        cfg = conf.Configuration(cinder_driver.volume_opts,
                                 config_group=BACKEND)
        cfg.append_config_values(options.dlsm_opts)
        for name, value in (('dlsm_backend_url', URL),
                            ('dlsm_token', TOKEN),
                            ('dlsm_retry_backoff', 0.0),
                            ('dlsm_connection_mode', self.mode),
                            ('dlsm_follow_instance', self.follow),
                            ('volume_backend_name', 'dlsm')):
            self.override_config(name, value, group=BACKEND)
        return cfg

    def host(self, node):
        return 'ctl@%s#%s' % (BACKEND, node)

    def dest(self, node):
        """A migrate_volume `host` argument for one of our pools."""
        stats = self.driver.get_volume_stats(refresh=True)
        pool = [p for p in stats['pools'] if p['pool_name'] == node][0]
        return {'host': self.host(node), 'cluster_name': None,
                'capabilities': pool}
