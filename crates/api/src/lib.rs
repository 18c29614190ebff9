//! rkube-api
