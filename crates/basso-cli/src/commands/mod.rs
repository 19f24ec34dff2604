pub mod check;
#[cfg(feature = "containerd")]
pub mod containerd;
pub mod eval;
#[cfg(feature = "containerd")]
pub mod gc;
#[cfg(feature = "containerd")]
pub mod image;
