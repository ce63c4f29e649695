// Package testimage builds a small busybox OCI image offline, for tests and
// for seeding a node without registry access.
//
// The busybox binary comes from Debian's busybox-static package, fetched with
// `apt-get download` and unpacked with `dpkg-deb -x`; it is never installed
// into the host system (it conflicts with Debian's dynamically linked busybox
// package). The image is written as an OCI image layout packed into a tar
// stream, the format `ctr images import` and `docker load` accept.
//
// The package deliberately does not talk to registries and does not pull
// anything but the one Debian package.
package testimage
