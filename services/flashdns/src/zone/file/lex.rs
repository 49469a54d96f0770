//! The zone-file lexer: text into entries (one logical line each,
//! parentheses joined, comments dropped) of tokens, every error with its
//! line.

/// A word of an entry, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    /// The text, escapes kept as written (`\.`, `\034`); for a quoted
    /// string, what is between the quotes.
    pub(super) text: String,
    pub(super) quoted: bool,
    /// The line it is on (an entry in parentheses spans several).
    pub(super) line: usize,
}

/// One logical line: parentheses joined, comments dropped.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) line: usize,
    /// The line began with a blank: the owner is the previous one.
    pub(super) inherits_owner: bool,
    pub(super) tokens: Vec<Token>,
}

/// Splits zone text into entries. Errors carry the line they are on.
pub(super) fn entries(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut depth = 0usize;
    let mut paren_line = 0;
    let mut current: Option<Entry> = None;
    let mut word = String::new();
    let mut at_line_start = true;
    let mut blank_start = false;

    fn flush_word(word: &mut String, current: &mut Option<Entry>, line: usize, inherits: bool) {
        if word.is_empty() {
            return;
        }
        let entry = current.get_or_insert_with(|| Entry {
            line,
            inherits_owner: inherits,
            tokens: Vec::new(),
        });
        entry.tokens.push(Token {
            text: std::mem::take(word),
            quoted: false,
            line,
        });
    }

    while let Some(c) = chars.next() {
        if at_line_start {
            at_line_start = false;
            if depth == 0 {
                blank_start = c == ' ' || c == '\t';
            }
        }
        match c {
            '\n' => {
                flush_word(&mut word, &mut current, line, blank_start);
                if depth == 0
                    && let Some(entry) = current.take()
                {
                    out.push(entry);
                }
                line += 1;
                at_line_start = true;
            }
            ';' => {
                flush_word(&mut word, &mut current, line, blank_start);
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' | '\r' => flush_word(&mut word, &mut current, line, blank_start),
            '(' => {
                flush_word(&mut word, &mut current, line, blank_start);
                if depth == 0 {
                    paren_line = line;
                }
                depth += 1;
                current.get_or_insert_with(|| Entry {
                    line,
                    inherits_owner: blank_start,
                    tokens: Vec::new(),
                });
            }
            ')' => {
                flush_word(&mut word, &mut current, line, blank_start);
                if depth == 0 {
                    return Err((line, "unbalanced parentheses".to_owned()));
                }
                depth -= 1;
            }
            '"' => {
                flush_word(&mut word, &mut current, line, blank_start);
                let start = line;
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        None | Some('\n') => return Err((start, "unbalanced quotes".to_owned())),
                        Some('"') => break,
                        Some('\\') => {
                            quoted.push('\\');
                            match chars.next() {
                                None | Some('\n') => {
                                    return Err((start, "unbalanced quotes".to_owned()));
                                }
                                Some(c) => quoted.push(c),
                            }
                        }
                        Some(c) => quoted.push(c),
                    }
                }
                let entry = current.get_or_insert_with(|| Entry {
                    line,
                    inherits_owner: blank_start,
                    tokens: Vec::new(),
                });
                entry.tokens.push(Token {
                    text: quoted,
                    quoted: true,
                    line: start,
                });
            }
            '\\' => {
                word.push('\\');
                match chars.next() {
                    Some('\n') | None => {
                        return Err((line, "escape at the end of a line".to_owned()));
                    }
                    Some(c) => word.push(c),
                }
            }
            c => word.push(c),
        }
    }
    flush_word(&mut word, &mut current, line, blank_start);
    if depth > 0 {
        return Err((paren_line, "unbalanced parentheses".to_owned()));
    }
    if let Some(entry) = current.take() {
        out.push(entry);
    }
    Ok(out)
}
