//! rkube-printers
