//! minijinja's expression API (`Environment::compile_expression`), without
//! templates.

use minijinja::value::ValueKind;
use minijinja::{Environment, Expression, Value};

use crate::run::Engine;
use crate::workload::Workload;

pub fn engine(workload: &Workload) -> Result<Engine<Expression<'static, 'static>, Value>, String> {
    let environment: &'static Environment<'static> = Box::leak(Box::new(Environment::new()));
    let context = Value::from(minijinja::value::Serde(&workload.context));

    Ok(Engine {
        name: "minijinja",
        compile: Box::new(|_, source| {
            environment.compile_expression_owned(source.to_string()).map_err(|error| error.to_string())
        }),
        evaluate: Box::new(move |expression| expression.eval(context.clone()).map_err(|error| error.to_string())),
        text: text,
    })
}

/// Converts a result to text, with booleans in lower case like the other
/// engines, because minijinja's `Display` follows Python and writes `True`.
fn text(value: &Value) -> String {
    match value.kind() {
        ValueKind::Bool => value.is_true().to_string(),
        _ => value.to_string(),
    }
}
