//! evalexpr, whose variables are flat: the context tree becomes one variable
//! per leaf, named by its dotted path (`pipeline.variables.version`).

use evalexpr::{
    ContextWithMutableVariables, DefaultNumericTypes, HashMapContext, Node, Value,
    build_operator_tree,
};
use serde_json::Value as Json;

use crate::run::Engine;
use crate::workload::Workload;

type Numbers = DefaultNumericTypes;

pub fn engine(workload: &Workload) -> Result<Engine<Node<Numbers>, Value<Numbers>>, String> {
    let mut context = HashMapContext::<Numbers>::new();
    flatten(&mut context, "", &workload.context)?;
    let context: &'static HashMapContext<Numbers> = Box::leak(Box::new(context));

    Ok(Engine {
        name: "evalexpr",
        compile: Box::new(|_, source| build_operator_tree::<Numbers>(source).map_err(|error| error.to_string())),
        evaluate: Box::new(move |node| node.eval_with_context(context).map_err(|error| error.to_string())),
        text: text,
    })
}

fn flatten(context: &mut HashMapContext<Numbers>, path: &str, value: &Json) -> Result<(), String> {
    if let Json::Object(fields) = value {
        for (name, child) in fields {
            let child_path = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            flatten(context, &child_path, child)?;
        }
        return Ok(());
    }
    context
        .set_value(path.to_string(), leaf(value)?)
        .map_err(|error| format!("evalexpr context `{path}`: {error}"))
}

fn leaf(value: &Json) -> Result<Value<Numbers>, String> {
    Ok(match value {
        Json::Null => Value::Empty,
        Json::Bool(flag) => Value::Boolean(*flag),
        Json::Number(number) => match number.as_i64() {
            Some(integer) => Value::Int(integer),
            None => Value::Float(number.as_f64().ok_or("number out of range")?),
        },
        Json::String(text) => Value::String(text.clone()),
        Json::Array(items) => Value::Tuple(items.iter().map(leaf).collect::<Result<_, _>>()?),
        Json::Object(_) => return Err("nested object inside an array".into()),
    })
}

fn text(value: &Value<Numbers>) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
