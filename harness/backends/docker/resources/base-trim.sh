# Runs inside the fresh debootstrap root: drop what a container never needs (docs, caches, apt lists).
set -e
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /var/log/*.log /tmp/*
