pub mod check;
pub mod eval;
