mod fixtures;
mod json_patch;
mod merge_patch;
mod smp;
mod smp_directives;
