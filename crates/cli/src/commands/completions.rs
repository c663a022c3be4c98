//! `ucoauth completions SHELL`.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES
  bash:  ucoauth completions bash > ~/.local/share/bash-completion/completions/ucoauth
  zsh:   ucoauth completions zsh > ~/.zfunc/_ucoauth   (with fpath+=~/.zfunc in ~/.zshrc)
  fish:  ucoauth completions fish > ~/.config/fish/completions/ucoauth.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "ucoauth", &mut std::io::stdout());
    Ok(())
}
