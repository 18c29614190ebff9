//! rkube-patch
