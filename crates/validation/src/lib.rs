//! rkube-validation
