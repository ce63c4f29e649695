// Package image is peapod's container image store.
//
// A Store keeps images on local disk under one root directory:
//
//	blobs/sha256/<hex>      manifests, indexes and image configs as fetched
//	layers/<diffid-hex>/    one unpacked, overlayfs-ready directory per layer
//	images/<id-hex>.json    the image record (config, layers, size)
//	names/<base64url(ref)>  a file holding the image ID a reference points to
//
// Everything is written to a temporary name and renamed into place, so
// readers never see partial state and need no lock. Layers are content
// addressed by diffID: a layer shared by several images is unpacked once.
// Changes to names and records are serialised with an flock on root/lock, so
// the daemon and a CLI may modify the same store at the same time. The names
// directory is the single source of truth for RepoTags and RepoDigests; image
// records never list names.
//
// Images arrive by Pull, from a registry (with containerd-style hosts.toml
// mirrors), or by Import, from an OCI-layout or docker-archive tarball.
// Layers are unpacked with OCI whiteouts converted to overlayfs whiteouts;
// entries that would escape the layer directory are rejected with
// ErrUnsafeLayer. Remove drops names and records; PruneLayers then removes
// the layers and blobs no image names (and no container uses).
package image
