//! `basso eval`: render or evaluate one template.

use clap::Args;

use crate::exit;

#[derive(Args)]
pub struct EvalArgs {
    /// The template text, such as `<+pipeline.variables.tag>`
    pub template: String,
}

pub fn run(args: EvalArgs) -> u8 {
    // NOTE: the expression engine is not wired in yet; this prints the text
    // unchanged so the binary builds.
    println!("{}", args.template);
    exit::SUCCESS
}
