//! A `no_main` binary is linked with `-nodefaultlibs`; the C start files that
//! call our `main`, and the memcpy/memset/memcmp that `core` lowers to, live in
//! libc. Linking libc adds no Rust std: the check stays meaningful.
fn main() {
    println!("cargo:rustc-link-arg-bins=-lc");
}
