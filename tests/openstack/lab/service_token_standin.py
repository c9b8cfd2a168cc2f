"""A stand-in for the one step of Keystone's auth_token middleware that Cinder
needs from Nova during a live migration, for a lab that runs without Keystone.

Cinder (21.3.1 and later, bug #2004555) deletes an attachment that is
connected to an instance only for a *service* request: Nova sends its service
user's token in X-Service-Token ([service_user] send_service_user_token =
true), Keystone's middleware validates it and sets X-Service-Roles, and Cinder
checks those roles. Here the token is compared with a lab secret instead of
being validated by Keystone. As the real middleware does, X-Service-Roles from
the client is never trusted: it is removed first, so a request without the
right token cannot claim the role (the test shows that refusal).

paste: [filter:servicetoken] paste.filter_factory =
service_token_standin:ServiceTokenStandIn.factory, secret_file = PATH.
"""

import hmac

import webob.dec


class ServiceTokenStandIn(object):

    def __init__(self, app, secret):
        self.app = app
        self.secret = secret

    @classmethod
    def factory(cls, global_conf, **local_conf):
        with open(local_conf['secret_file']) as f:
            secret = f.read().strip()
        if not secret:
            raise ValueError('service token stand-in: empty secret')

        def filt(app):
            return cls(app, secret)
        return filt

    @webob.dec.wsgify
    def __call__(self, req):
        for h in ('X-Service-Roles', 'X-Service-Token-Valid'):
            req.headers.pop(h, None)
        token = req.headers.get('X-Service-Token', '')
        if token and hmac.compare_digest(token, self.secret):
            req.headers['X-Service-Roles'] = 'service'
        return req.get_response(self.app)
