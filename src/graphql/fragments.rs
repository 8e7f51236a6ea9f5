//! How many fields a document selects once its fragments are expanded, counted in linear time.
//!
//! Fragments multiply: a fragment that spreads another one three times, thirty deep, selects
//! 3^30 fields from a few hundred bytes of text. async-graphql's own depth, complexity and
//! validation passes expand spreads as they go, so such a document would keep a worker thread
//! busy for hours. This count memoizes each fragment once, walks the spread graph without
//! recursion, and stops counting at a ceiling, so it is linear in the document's size.

use std::collections::HashMap;

use async_graphql::Name;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Why a document's fragments cannot be expanded within bounds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpansionError {
    /// A fragment spreads itself, directly or through others.
    #[error("fragment `{0}` spreads itself, directly or through other fragments")]
    Cycle(String),
    /// The operations select more fields than the limit once fragments are expanded.
    #[error("the document selects more than {0} fields once its fragments are expanded")]
    TooLarge(usize),
}

/// Check that the document's operations select at most `limit` fields, fragments expanded,
/// and that no fragment spreads itself.
///
/// Fragments that are spread but not defined count as empty: validation reports them.
///
/// # Errors
/// [`ExpansionError::Cycle`] or [`ExpansionError::TooLarge`].
pub fn check(document: &ExecutableDocument, limit: usize) -> Result<(), ExpansionError> {
    let order = dependency_order(document)?;
    let mut sizes: HashMap<&Name, usize> = HashMap::with_capacity(order.len());
    for name in order {
        if let Some(fragment) = document.fragments.get(name) {
            let size = size_of(&fragment.node.selection_set.node, &sizes, limit);
            sizes.insert(name, size);
        }
    }
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        total = total.saturating_add(size_of(&operation.node.selection_set.node, &sizes, limit));
        if total > limit {
            return Err(ExpansionError::TooLarge(limit));
        }
    }
    Ok(())
}

/// Fields selected by `set`, with spreads counted by their fragment's memoized size, capped
/// just past `limit`. Recurses once per nested selection set, which the document's nesting
/// bound keeps shallow.
fn size_of(set: &SelectionSet, sizes: &HashMap<&Name, usize>, limit: usize) -> usize {
    let mut size = 0usize;
    for selection in &set.items {
        let add = match &selection.node {
            Selection::Field(field) => 1 + size_of(&field.node.selection_set.node, sizes, limit),
            Selection::FragmentSpread(spread) => sizes
                .get(&spread.node.fragment_name.node)
                .copied()
                .unwrap_or(0),
            Selection::InlineFragment(inline) => {
                size_of(&inline.node.selection_set.node, sizes, limit)
            }
        };
        size = size.saturating_add(add).min(limit.saturating_add(1));
    }
    size
}

/// The defined fragments, each after every fragment it spreads (depth-first post-order, with
/// an explicit stack).
///
/// # Errors
/// [`ExpansionError::Cycle`] when the spreads form a cycle.
fn dependency_order(document: &ExecutableDocument) -> Result<Vec<&Name>, ExpansionError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let spreads: HashMap<&Name, Vec<&Name>> = document
        .fragments
        .iter()
        .map(|(name, fragment)| {
            let mut found = Vec::new();
            collect_spreads(&fragment.node.selection_set.node, &mut found);
            (name, found)
        })
        .collect();
    let mut marks: HashMap<&Name, Mark> = HashMap::with_capacity(spreads.len());
    let mut order = Vec::with_capacity(spreads.len());
    for root in spreads.keys() {
        if marks.contains_key(root) {
            continue;
        }
        // Each entry: a fragment and how many of its spreads have been followed.
        let mut stack: Vec<(&Name, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::Open);
        while let Some((name, next)) = stack.last_mut() {
            let deps = spreads.get(name).map_or(&[][..], Vec::as_slice);
            if let Some(&dep) = deps.get(*next) {
                *next += 1;
                match marks.get(dep) {
                    Some(Mark::Open) => return Err(ExpansionError::Cycle(dep.to_string())),
                    Some(Mark::Done) => {}
                    None if spreads.contains_key(dep) => {
                        marks.insert(dep, Mark::Open);
                        stack.push((dep, 0));
                    }
                    None => {} // undefined: validation reports it
                }
            } else {
                let name = *name;
                marks.insert(name, Mark::Done);
                order.push(name);
                stack.pop();
            }
        }
    }
    Ok(order)
}

fn collect_spreads<'a>(set: &'a SelectionSet, found: &mut Vec<&'a Name>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => collect_spreads(&field.node.selection_set.node, found),
            Selection::FragmentSpread(spread) => found.push(&spread.node.fragment_name.node),
            Selection::InlineFragment(inline) => {
                collect_spreads(&inline.node.selection_set.node, found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn checked(document: &str, limit: usize) -> Result<(), ExpansionError> {
        check(&parse_query(document).expect("parses"), limit)
    }

    /// `fragment F0 { ...F1 ...F1 ...F1 }` … thirty deep: 3^30 fields from ~1 KB.
    fn bomb(levels: usize) -> String {
        let mut document = String::from("{ ...F0 }\n");
        for level in 0..levels {
            let next = level + 1;
            document.push_str(&format!(
                "fragment F{level} on Query {{ ...F{next} ...F{next} ...F{next} }}\n"
            ));
        }
        document.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
        document
    }

    #[test]
    fn fields_are_counted_through_fragments() {
        let document = "{ a b { c } ...F } fragment F on Query { d ... on Query { e } }";
        assert_eq!(checked(document, 5), Ok(()));
        assert_eq!(checked(document, 4), Err(ExpansionError::TooLarge(4)));
    }

    #[test]
    fn an_exponential_fragment_bomb_is_refused_quickly() {
        assert_eq!(
            checked(&bomb(30), 10_000),
            Err(ExpansionError::TooLarge(10_000))
        );
        assert_eq!(checked(&bomb(5), 10_000), Ok(()));
    }

    #[test]
    fn cycles_are_reported_not_followed() {
        let document = "{ ...A } fragment A on Query { ...B } fragment B on Query { x ...A }";
        assert!(matches!(
            checked(document, 100),
            Err(ExpansionError::Cycle(_))
        ));
        let itself = "{ ...A } fragment A on Query { ...A }";
        assert_eq!(checked(itself, 100), Err(ExpansionError::Cycle("A".into())));
    }

    #[test]
    fn long_fragment_chains_need_no_deep_recursion() {
        let mut document = String::from("{ ...F0 }\n");
        for i in 0..50_000 {
            document.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        document.push_str("fragment F50000 on Query { x }\n");
        let result = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || checked(&document, 10))
            .expect("thread starts")
            .join()
            .expect("no overflow");
        assert_eq!(result, Ok(()));
    }
}
