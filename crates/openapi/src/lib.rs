//! rkube-openapi
