//! One helper macro for `photon-dsl`: [`respan!`](macro@respan).
//!
//! A `macro_rules!` macro cannot make a const-evaluation error point at one of
//! its arguments: every token it writes carries the macro's own span, so
//! rustc reports the whole invocation. `topology!` passes each service
//! through `respan!`, so a check that fails for that service is reported on
//! the service's name in the user's `services: [...]` list.

use proc_macro::{Delimiter, Group, Span, TokenStream, TokenTree};

/// `respan!{ [anchor tokens] body... }` emits `body` with every span set to
/// the span of the anchor's first token.
///
/// `$crate` keeps its own span: that span is what makes it resolve to the
/// defining crate.
#[proc_macro]
pub fn respan(input: TokenStream) -> TokenStream {
    let mut tokens = input.into_iter();
    let anchor = match tokens.next() {
        Some(TokenTree::Group(group)) => first_span(group.stream()).unwrap_or_else(Span::call_site),
        _ => return compile_error("respan! expects `[anchor tokens] body...`"),
    };
    with_span(tokens.collect(), anchor)
}

/// The span of the first real token, looking through the invisible groups
/// that `macro_rules!` wraps around `$x:expr` fragments.
fn first_span(stream: TokenStream) -> Option<Span> {
    match stream.into_iter().next()? {
        TokenTree::Group(group) if group.delimiter() == Delimiter::None => {
            first_span(group.stream())
        }
        first => Some(first.span()),
    }
}

fn with_span(stream: TokenStream, span: Span) -> TokenStream {
    stream
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), with_span(group.stream(), span));
                new.set_span(span);
                TokenTree::Group(new)
            }
            TokenTree::Ident(ident) if ident.to_string() == "$crate" => TokenTree::Ident(ident),
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?});")
        .parse()
        .unwrap_or_default()
}
