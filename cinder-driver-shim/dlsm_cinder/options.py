"""Configuration options of the DLSM volume driver.

All options live in the backend's section of cinder.conf (e.g. [dlsm]) and are
also registered in the shared group so that a value in [backend_defaults]
applies to every DLSM backend, the way in-tree drivers do it.
"""

from oslo_config import cfg

from cinder.volume import configuration

CONNECTION_MODES = ('nbd', 'local')
# What the driver does when a volume is connected on a host other than the
# node that holds it:
#  live-migration: move it only when Nova live-migrates the instance that uses
#                  it (an attached volume gets a connector from another host);
#  always:         also move it on a plain attach to another node, so the
#                  instance always reads locally;
#  never:          never move it from Nova's side; the destination host reads
#                  it over the network (only possible in nbd mode).
FOLLOW_POLICIES = ('live-migration', 'always', 'never')

dlsm_opts = [
    cfg.URIOpt('dlsm_backend_url',
               default='http://127.0.0.1:7800',
               schemes=['http', 'https'],
               help='Base URL of the DLSM REST backend (without /v1).'),
    cfg.StrOpt('dlsm_token',
               secret=True,
               default='',
               help='Bearer token sent to the DLSM REST backend on every '
                    'call: the backend\'s API token (STATE_DIR/api-token, '
                    'which it makes at first start, or its --token-file). '
                    'Empty: no Authorization header, which only a backend '
                    'run with --insecure-no-auth accepts.'),
    cfg.FloatOpt('dlsm_connect_timeout',
                 default=5.0, min=0.1,
                 help='Seconds to wait for a TCP connection to the backend.'),
    cfg.FloatOpt('dlsm_read_timeout',
                 default=60.0, min=0.1,
                 help='Seconds to wait for a backend response. Creating a '
                      'migration talks to two nodes, so keep it generous.'),
    cfg.IntOpt('dlsm_retries',
               default=3, min=0,
               help='Retries of a backend call after a connection error, a '
                    'timeout or a 5xx response. The backend makes every '
                    'call idempotent, so retrying a POST is harmless.'),
    cfg.FloatOpt('dlsm_retry_backoff',
                 default=0.5, min=0.0,
                 help='First delay between retries in seconds; doubles on '
                      'each further retry.'),
    cfg.StrOpt('dlsm_verify_ssl',
               default='true',
               help='"true", "false" or the path of a CA bundle used to '
                    'verify an https backend.'),
    cfg.StrOpt('dlsm_connection_mode',
               default='nbd',
               choices=CONNECTION_MODES,
               help='How hypervisors attach volumes: "nbd" hands out an NBD '
                    'export (user space, works anywhere); "local" hands out '
                    'a /dev/mapper/dlsm-* device that blockd creates on the '
                    'connector\'s node.'),
    cfg.StrOpt('dlsm_follow_instance',
               default='live-migration',
               choices=FOLLOW_POLICIES,
               help='When a volume moves to the node of the host that '
                    'connects it: "live-migration" (when Nova live-migrates '
                    'the instance), "always" (also on a plain attach) or '
                    '"never". "local" connection mode always moves, since '
                    'the device must exist on the connecting host.'),
    cfg.DictOpt('dlsm_host_node_map',
                default={},
                help='Map of connector host name to DLSM node name, e.g. '
                     'compute1.example.org:node1. Hosts not listed use their '
                     'own name as the node name.'),
    cfg.IntOpt('dlsm_migration_bandwidth',
               default=0, min=0,
               help='Background copy limit of a migration in bytes per '
                    'second; 0 leaves it to the backend.'),
]

CONF = cfg.CONF
CONF.register_opts(dlsm_opts, group=configuration.SHARED_CONF_GROUP)


def list_opts():
    """oslo-config-generator entry point."""
    return [(configuration.SHARED_CONF_GROUP, dlsm_opts)]
