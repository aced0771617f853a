// Package images holds the build of our function images (images.sh, run by
// `make images`) and its test against a registry on 127.0.0.1: every function image is
// multi-arch (linux/amd64, linux/arm64), built without a Docker engine (ko on a base
// made with crane), non-root, reproducible, and referenced by digest.
package images
