//! Checksum-verified download of the official dataset files (in progress).
