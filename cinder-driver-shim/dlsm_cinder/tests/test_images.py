"""Image <-> volume copies against a real NBD server: qemu-nbd serves a
file that stands for the volume's export on its node, qemu-img (driven by
the driver) writes and reads it, Cinder's real image_utils checks the image.
"""

import os
import socket
import subprocess
import tempfile
import time

from cinder import exception
from cinder.tests.unit import fake_volume
from cinder.tests.unit.image import fake as fake_image
from oslo_utils import units

from dlsm_cinder.tests import base

MIB = units.Mi


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class _ImageService(fake_image._FakeImageService):
    """Keeps what is uploaded (the fake's update drops the data)."""

    def update(self, context, image_id, metadata, data=None, **kwargs):
        if data is not None:
            self._imagedata[image_id] = data.read()
        return super().update(context, image_id, metadata, **kwargs)


class ImageCopyTestCase(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        work = tempfile.mkdtemp(prefix='dlsm-image-test-')
        self.addCleanup(subprocess.call, ['rm', '-rf', work])
        self.flags(image_conversion_dir=os.path.join(work, 'conversion'))
        self.work = work
        self.disk = os.path.join(work, 'volume.raw')
        with open(self.disk, 'wb') as f:
            f.truncate(16 * MIB)
        self.vol = fake_volume.fake_volume_obj(
            self.ctx, host=self.host('node1'), size=1)
        self.driver.create_volume(self.vol)
        port = _free_port()
        # The volume's node exports it at 127.0.0.1:port; qemu-nbd stands in
        # for that node's blockd (-t: more than one client).
        self.backend.nodes['node1']['nbdPort'] = port
        proc = subprocess.Popen(
            ['qemu-nbd', '-f', 'raw', '-t', '-b', '127.0.0.1', '-p',
             str(port), '-x', self.vol.name_id, self.disk],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        # Bounded by a deadline generous for a loaded machine, and failing
        # plainly: a count of short tries ran out before qemu-nbd listened.
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.fail('qemu-nbd did not listen on port %d: %s' % (
                        port, proc.stderr.read().decode(errors='replace')
                        if proc.poll() is not None else 'still starting after 60 s'))
                time.sleep(0.05)
        self.images = _ImageService()

    def _image(self, fmt, payload, claimed=None):
        raw = os.path.join(self.work, 'payload.raw')
        with open(raw, 'wb') as f:
            f.truncate(8 * MIB)
            f.seek(MIB + 17)
            f.write(payload)
        path = os.path.join(self.work, 'image.%s' % fmt)
        subprocess.check_call(['qemu-img', 'convert', '-f', 'raw', '-O', fmt,
                               raw, path])
        with open(path, 'rb') as f:
            meta = self.images.create(
                self.ctx, {'disk_format': claimed or fmt,
                           'container_format': 'bare', 'status': 'active'},
                data=f)
        return meta['id']

    def test_qcow2_image_lands_in_the_volume_as_raw(self):
        payload = os.urandom(300000)
        image_id = self._image('qcow2', payload)

        self.driver.copy_image_to_volume(self.ctx, self.vol, self.images,
                                         image_id)

        with open(self.disk, 'rb') as f:
            f.seek(MIB + 17)
            self.assertEqual(payload, f.read(len(payload)))
            f.seek(0)
            self.assertEqual(b'\0' * MIB, f.read(MIB))

    def test_image_claiming_another_format_is_refused_before_writing(self):
        image_id = self._image('qcow2', b'x' * 4096, claimed='raw')

        self.assertRaises(exception.ImageUnacceptable,
                          self.driver.copy_image_to_volume, self.ctx,
                          self.vol, self.images, image_id)
        with open(self.disk, 'rb') as f:
            self.assertEqual(b'\0' * (16 * MIB), f.read())

    def test_image_larger_than_the_volume_is_refused(self):
        big = os.path.join(self.work, 'big.qcow2')
        subprocess.check_call(['qemu-img', 'create', '-f', 'qcow2', big,
                               '2G'], stdout=subprocess.DEVNULL)
        with open(big, 'rb') as f:
            image_id = self.images.create(
                self.ctx, {'disk_format': 'qcow2',
                           'container_format': 'bare'}, data=f)['id']

        self.assertRaises(exception.ImageUnacceptable,
                          self.driver.copy_image_to_volume, self.ctx,
                          self.vol, self.images, image_id)

    def test_volume_uploads_as_the_images_disk_format(self):
        payload = os.urandom(70000)
        with open(self.disk, 'r+b') as f:
            f.seek(5 * MIB)
            f.write(payload)
        image_id = self.images.create(
            self.ctx, {'disk_format': 'raw', 'container_format': 'bare',
                       'status': 'queued'})['id']
        meta = self.images.show(self.ctx, image_id)

        self.driver.copy_volume_to_image(self.ctx, self.vol, self.images,
                                         meta)

        data = self.images._imagedata[image_id]
        self.assertEqual(16 * MIB, len(data))
        self.assertEqual(payload, data[5 * MIB:5 * MIB + len(payload)])

    def test_encrypted_volume_from_image_is_refused_clearly(self):
        e = self.assertRaises(exception.VolumeBackendAPIException,
                              self.driver.copy_image_to_encrypted_volume,
                              self.ctx, self.vol, self.images, 'img')
        self.assertIn('encrypted', str(e))

