// A JSON Schema 2020-12 validator of our own, so that a write is checked against its
// collection's schema (GET /v1/collections) before it is queued, offline too. No eval, no
// new Function: it runs under a strict Content Security Policy. The server
// (syncserver/collections/schema.py, jsonschema-rs) stays the authority; this one answers
// the same for what it knows (tests/client/test_schema_check_agrees.py compares the two)
// and must never refuse what the server takes:
//
// - Known assertions: type, enum, const, properties, required, additionalProperties,
//   patternProperties, propertyNames, items, prefixItems, contains/minContains/maxContains,
//   minItems/maxItems, uniqueItems, minLength/maxLength (code points), pattern (a RegExp
//   with the `u` flag), minimum/maximum/exclusiveMinimum/exclusiveMaximum, multipleOf,
//   minProperties/maxProperties, dependentRequired, dependentSchemas (and the older
//   `dependencies`, which the server also reads), allOf/anyOf/oneOf/not, if/then/else,
//   $ref to `#`, `#/pointer` or `#anchor` within the schema, booleans as schemas.
// - Anything else is ignored (annotations, `format`, unknown keywords). A subschema that
//   holds an assertion this one cannot check (unevaluatedProperties, a $ref it cannot
//   resolve, a pattern JavaScript cannot read) is "inexact": where its failing would make a
//   record valid (under `not`, in `if`, as a second `oneOf` match), it decides nothing.
//
// The first problem found is returned as {pointer, message}: an RFC 6901 pointer into the
// data ("" for the record itself) and the server's wording where it has one.

import { codePoints, isMultipleOf, jsonEqual, kindOf, show } from './json-values.js';
import { SchemaIndex } from './schema-index.js';

/** @typedef {{pointer: string, message: string}} SchemaProblem */
/** @typedef {import('./schema-index.js').Schema} Schema */

// Deeper than this through $ref on one value: undecided (a schema that refers to itself).
const MAX_DEPTH = 256;

/**
 * @param {string} pointer
 * @param {string | number} key
 * @returns {string}
 */
function child(pointer, key) {
  return `${pointer}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/**
 * @param {string} pointer
 * @param {string} message
 * @returns {SchemaProblem}
 */
const problem = (pointer, message) => ({ pointer, message });

/** @param {number} n @param {string} one @param {string} many */
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** @param {unknown[]} values */
function oneOf(values) {
  const shown = values.map(show);
  if (shown.length <= 1) return shown.join('');
  if (shown.length <= 3) return `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
  return `${shown.slice(0, 2).join(', ')} or ${shown.length - 2} other candidates`;
}

/**
 * @param {unknown} value
 * @param {string} type
 */
function isType(value, type) {
  const kind = kindOf(value);
  if (type === 'integer') return kind === 'number' && Number.isInteger(value);
  return kind === type;
}

export class SchemaCheck {
  /** @param {Schema} schema  a collection's JSON Schema, as the server serves it */
  constructor(schema) {
    this.root = schema;
    /** what the schema holds: its references, patterns, and what this one checks exactly */
    this.known = new SchemaIndex(schema);
  }

  /**
   * The first place where `data` breaks the schema, or null.
   * @param {unknown} data  a JSON value (parsed JSON: no undefined, no Date)
   * @returns {SchemaProblem | null}
   */
  check(data) { return this.problem(this.root, data, '', 0); }

  /**
   * @param {Schema} node
   * @param {unknown} data
   * @returns {boolean}
   */
  passes(node, data, depth = 0) { return this.problem(node, data, '', depth) === null; }

  /**
   * @param {Schema} node
   * @param {unknown} data
   * @param {string} at  the pointer of `data` in the record
   * @param {number} depth
   * @returns {SchemaProblem | null}
   */
  problem(node, data, at, depth) {
    if (node === true) return null;
    if (node === false) return problem(at, `False schema does not allow ${show(data)}`);
    if (node === null || typeof node !== 'object' || depth > MAX_DEPTH) return null;
    if (node.$ref !== undefined) {
      const target = this.known.target(node);
      const found = target === undefined ? null : this.problem(target, data, at, depth + 1);
      if (found) return found;
    }
    return this.typed(node, data, at)
      ?? this.byKind(node, data, at, depth)
      ?? this.combined(node, data, at, depth);
  }

  /**
   * type, enum, const.
   * @param {Record<string, any>} node
   * @param {unknown} data
   * @param {string} at
   * @returns {SchemaProblem | null}
   */
  typed(node, data, at) {
    if (node.type !== undefined) {
      const types = Array.isArray(node.type) ? node.type : [node.type];
      if (!types.some((type) => isType(data, type))) {
        const names = types.map((type) => `"${type}"`).sort();
        return problem(at, `${show(data)} is not of type${names.length > 1 ? 's' : ''} ${names.join(', ')}`);
      }
    }
    if (Array.isArray(node.enum) && !node.enum.some((/** @type {unknown} */ v) => jsonEqual(v, data))) {
      return problem(at, `${show(data)} is not one of ${oneOf(node.enum)}`);
    }
    if ('const' in node && !jsonEqual(node.const, data)) return problem(at, `${show(node.const)} was expected`);
    return null;
  }

  /**
   * The assertions of the data's own kind: numbers, strings, arrays, objects.
   * @param {Record<string, any>} node
   * @param {unknown} data
   * @param {string} at
   * @param {number} depth
   * @returns {SchemaProblem | null}
   */
  byKind(node, data, at, depth) {
    switch (kindOf(data)) {
      case 'number': return numberProblem(node, /** @type {number} */ (data), at);
      case 'string': return this.stringProblem(node, /** @type {string} */ (data), at);
      case 'array': return this.arrayProblem(node, /** @type {unknown[]} */ (data), at, depth);
      case 'object': return this.objectProblem(node, /** @type {Record<string, unknown>} */ (data), at, depth);
      default: return null;
    }
  }

  /**
   * @param {Record<string, any>} node
   * @param {string} data
   * @param {string} at
   * @returns {SchemaProblem | null}
   */
  stringProblem(node, data, at) {
    const length = node.minLength !== undefined || node.maxLength !== undefined ? codePoints(data) : 0;
    if (node.maxLength !== undefined && length > node.maxLength) {
      return problem(at, `${show(data)} is longer than ${plural(node.maxLength, 'character', 'characters')}`);
    }
    if (node.minLength !== undefined && length < node.minLength) {
      return problem(at, `${show(data)} is shorter than ${plural(node.minLength, 'character', 'characters')}`);
    }
    if (typeof node.pattern === 'string' && this.known.regexp(node.pattern)?.test(data) === false) {
      return problem(at, `${show(data)} does not match ${show(node.pattern)}`);
    }
    return null;
  }

  /**
   * @param {Record<string, any>} node
   * @param {unknown[]} data
   * @param {string} at
   * @param {number} depth
   * @returns {SchemaProblem | null}
   */
  arrayProblem(node, data, at, depth) {
    if (node.maxItems !== undefined && data.length > node.maxItems) {
      return problem(at, `${show(data)} has more than ${plural(node.maxItems, 'item', 'items')}`);
    }
    if (node.minItems !== undefined && data.length < node.minItems) {
      return problem(at, `${show(data)} has less than ${plural(node.minItems, 'item', 'items')}`);
    }
    if (node.uniqueItems === true && data.some((item, i) => data.slice(0, i).some((before) => jsonEqual(before, item)))) {
      return problem(at, `${show(data)} has non-unique elements`);
    }
    const prefix = Array.isArray(node.prefixItems) ? node.prefixItems : [];
    for (let i = 0; i < data.length; i++) {
      const schema = i < prefix.length ? prefix[i] : node.items;
      const found = schema === undefined ? null : this.problem(schema, data[i], child(at, i), depth);
      if (found) return found;
    }
    if (node.contains !== undefined) {
      const matching = data.filter((item) => this.passes(node.contains, item, depth)).length;
      const least = node.minContains ?? 1;
      if (matching < least) {
        return problem(at, matching === 0 ? `None of ${show(data)} are valid under the given schema`
          : `${show(data)} has ${plural(matching, 'item', 'items')} valid under the given schema, fewer than the ${least} of minContains`);
      }
      // An inexact `contains` may match more items here than on the server.
      if (node.maxContains !== undefined && matching > node.maxContains && this.known.exact(node.contains)) {
        return problem(at, `${show(data)} has ${plural(matching, 'item', 'items')} valid under the given schema, more than the ${node.maxContains} of maxContains`);
      }
    }
    return null;
  }

  /**
   * @param {Record<string, any>} node
   * @param {Record<string, unknown>} data
   * @param {string} at
   * @param {number} depth
   * @returns {SchemaProblem | null}
   */
  objectProblem(node, data, at, depth) {
    const keys = Object.keys(data);
    if (node.maxProperties !== undefined && keys.length > node.maxProperties) {
      return problem(at, `${show(data)} has more than ${plural(node.maxProperties, 'property', 'properties')}`);
    }
    if (node.minProperties !== undefined && keys.length < node.minProperties) {
      return problem(at, `${show(data)} has less than ${plural(node.minProperties, 'property', 'properties')}`);
    }
    for (const name of Array.isArray(node.required) ? node.required : []) {
      if (!Object.hasOwn(data, name)) return problem(at, `${show(name)} is a required property`);
    }
    for (const dependencies of [node.dependentRequired, node.dependencies]) {
      for (const [name, needs] of Object.entries(dependencies ?? {})) {
        if (!Array.isArray(needs) || !Object.hasOwn(data, name)) continue;
        const missing = needs.find((need) => !Object.hasOwn(data, need));
        if (missing !== undefined) return problem(at, `${show(missing)} is a required property`);
      }
    }
    if (node.propertyNames !== undefined) {
      for (const key of keys) {
        const found = this.problem(node.propertyNames, key, at, depth);
        if (found) return found;
      }
    }
    const properties = node.properties ?? {};
    const patterns = Object.entries(node.patternProperties ?? {});
    /** @type {string[]} */
    const unexpected = [];
    for (const key of keys) {
      let matched = Object.hasOwn(properties, key);
      if (matched) {
        const found = this.problem(properties[key], data[key], child(at, key), depth);
        if (found) return found;
      }
      for (const [source, schema] of patterns) {
        // A pattern JavaScript cannot read matches nothing here: its schema is not applied,
        // and the key is not called unexpected (the server may match it).
        const regexp = this.known.regexp(source);
        if (regexp === null) matched = true;
        else if (regexp.test(key)) {
          matched = true;
          const found = this.problem(schema, data[key], child(at, key), depth);
          if (found) return found;
        }
      }
      if (matched || node.additionalProperties === undefined) continue;
      if (node.additionalProperties === false) unexpected.push(key);
      else {
        const found = this.problem(node.additionalProperties, data[key], child(at, key), depth);
        if (found) return found;
      }
    }
    if (unexpected.length) {
      const names = unexpected.map((key) => `'${key}'`).join(', ');
      return problem(at, `Additional properties are not allowed (${names} ${unexpected.length === 1 ? 'was' : 'were'} unexpected)`);
    }
    for (const dependencies of [node.dependentSchemas, node.dependencies]) {
      for (const [name, schema] of Object.entries(dependencies ?? {})) {
        if (Array.isArray(schema) || !Object.hasOwn(data, name)) continue;
        const found = this.problem(schema, data, at, depth);
        if (found) return found;
      }
    }
    return null;
  }

  /**
   * allOf, anyOf, oneOf, not, if/then/else: where an inexact subschema cannot say, the data
   * passes (the server decides).
   * @param {Record<string, any>} node
   * @param {unknown} data
   * @param {string} at
   * @param {number} depth
   * @returns {SchemaProblem | null}
   */
  combined(node, data, at, depth) {
    for (const schema of Array.isArray(node.allOf) ? node.allOf : []) {
      const found = this.problem(schema, data, at, depth);
      if (found) return found;
    }
    if (Array.isArray(node.anyOf) && !node.anyOf.some((/** @type {Schema} */ s) => this.passes(s, data, depth))) {
      return problem(at, `${show(data)} is not valid under any of the schemas listed in the 'anyOf' keyword`);
    }
    if (Array.isArray(node.oneOf)) {
      const valid = node.oneOf.filter((/** @type {Schema} */ s) => this.passes(s, data, depth));
      if (valid.length === 0) {
        return problem(at, `${show(data)} is not valid under any of the schemas listed in the 'oneOf' keyword`);
      }
      if (valid.filter((/** @type {Schema} */ s) => this.known.exact(s)).length > 1) {
        return problem(at, `${show(data)} is valid under more than one of the schemas listed in the 'oneOf' keyword`);
      }
    }
    if (node.not !== undefined && this.known.exact(node.not) && this.passes(node.not, data, depth)) {
      return problem(at, `${show(node.not)} is not allowed for ${show(data)}`);
    }
    if (node.if !== undefined && (node.then !== undefined || node.else !== undefined)) {
      const then = () => (node.then === undefined ? null : this.problem(node.then, data, at, depth));
      const otherwise = () => (node.else === undefined ? null : this.problem(node.else, data, at, depth));
      if (!this.passes(node.if, data, depth)) return otherwise();
      // `if` passes here; an inexact one may fail on the server: then either branch may apply.
      const found = then();
      return found && (this.known.exact(node.if) || otherwise()) ? found : null;
    }
    return null;
  }
}

/**
 * @param {Record<string, any>} node
 * @param {number} data
 * @param {string} at
 * @returns {SchemaProblem | null}
 */
function numberProblem(node, data, at) {
  if (typeof node.minimum === 'number' && data < node.minimum) {
    return problem(at, `${show(data)} is less than the minimum of ${show(node.minimum)}`);
  }
  if (typeof node.maximum === 'number' && data > node.maximum) {
    return problem(at, `${show(data)} is greater than the maximum of ${show(node.maximum)}`);
  }
  if (typeof node.exclusiveMinimum === 'number' && data <= node.exclusiveMinimum) {
    return problem(at, `${show(data)} is less than or equal to the minimum of ${show(node.exclusiveMinimum)}`);
  }
  if (typeof node.exclusiveMaximum === 'number' && data >= node.exclusiveMaximum) {
    return problem(at, `${show(data)} is greater than or equal to the maximum of ${show(node.exclusiveMaximum)}`);
  }
  if (typeof node.multipleOf === 'number' && node.multipleOf > 0 && !isMultipleOf(data, node.multipleOf)) {
    return problem(at, `${show(data)} is not a multiple of ${show(node.multipleOf)}`);
  }
  return null;
}

/**
 * Check a value against a schema once (compile with `new SchemaCheck(schema)` to check
 * many).
 * @param {Schema} schema
 * @param {unknown} data
 * @returns {SchemaProblem | null}
 */
export function schemaProblem(schema, data) {
  return new SchemaCheck(schema).check(data);
}
