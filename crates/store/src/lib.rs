//! rkube-store
