import setuptools

setuptools.setup(
    name='dlsm-cinder',
    version='1.0.0',
    description='Cinder volume driver for DLSM (decoupled live storage '
                'migration)',
    license='Apache-2.0',
    packages=setuptools.find_packages(exclude=['dlsm_cinder.tests*']),
    python_requires='>=3.8',
    # cinder itself is not listed: the driver runs inside an installed
    # cinder-volume and must not pull another Cinder into it.
    install_requires=['requests', 'oslo.config', 'oslo.log', 'oslo.utils'],
    entry_points={
        'oslo.config.opts': ['dlsm_cinder = dlsm_cinder.options:list_opts'],
    },
)
