//! rkube-protobuf
