// What a JSON Schema holds, for the client's validator (schema-check.js): the resource each
// subschema belongs to (the nearest with an `$id`, or the root) and its `$anchor`s, what a
// `$ref` within the schema names, its patterns as JavaScript reads them (with the `u`
// flag), and whether a subschema is exact: whether the validator decides it as the server
// does, with no assertion in it (or in what it refers to) that is not checked here.

/** @typedef {boolean | Record<string, any>} Schema */

// Assertions of 2020-12 (and drafts the server also reads) that are not checked here.
const UNCHECKED = ['unevaluatedProperties', 'unevaluatedItems', '$dynamicRef', '$recursiveRef'];

export class SchemaIndex {
  /** @param {Schema} schema */
  constructor(schema) {
    this.root = schema;
    /** @type {WeakMap<object, object>} each subschema's resource: the nearest with $id, or the root */
    this.resources = new WeakMap();
    /** @type {WeakMap<object, Map<string, object>>} the $anchors of each resource */
    this.anchors = new WeakMap();
    /** @type {WeakMap<object, boolean>} */
    this.exactness = new WeakMap();
    /** @type {Map<string, RegExp | null>} null: JavaScript cannot read the pattern */
    this.regexps = new Map();
    if (schema !== null && typeof schema === 'object') this.index(schema, schema);
  }

  /**
   * Note each subschema's resource and each resource's anchors, through the keywords that
   * hold subschemas and $defs.
   * @param {Record<string, any>} node
   * @param {object} resource
   */
  index(node, resource) {
    if (this.resources.has(node)) return;
    const own = node !== this.root && typeof node.$id === 'string' ? node : resource;
    this.resources.set(node, own);
    if (typeof node.$anchor === 'string') {
      if (!this.anchors.has(own)) this.anchors.set(own, new Map());
      this.anchors.get(own)?.set(node.$anchor, node);
    }
    for (const sub of subschemas(node)) if (sub !== null && typeof sub === 'object') this.index(sub, own);
  }

  /**
   * What a $ref names, or undefined when it is outside what this one resolves.
   * @param {Record<string, any>} node
   * @returns {Schema | undefined}
   */
  target(node) {
    const ref = node.$ref;
    const resource = this.resources.get(node);
    if (resource === undefined || typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
    let fragment;
    try { fragment = decodeURIComponent(ref.slice(1)); } catch { return undefined; }
    if (fragment !== '' && !fragment.startsWith('/')) {
      return /** @type {Schema | undefined} */ (this.anchors.get(resource)?.get(fragment));
    }
    /** @type {any} */
    let at = resource;
    for (const part of fragment.split('/').slice(1)) {
      const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
      if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return undefined;
      at = at[key];
    }
    return typeof at === 'boolean' || (at !== null && typeof at === 'object' && !Array.isArray(at)) ? at : undefined;
  }

  /**
   * @param {string} source
   * @returns {RegExp | null}
   */
  regexp(source) {
    let found = this.regexps.get(source);
    if (found === undefined) {
      try { found = new RegExp(source, 'u'); } catch { found = null; }
      this.regexps.set(source, found);
    }
    return found;
  }

  /**
   * Whether this validator decides the schema as the server does: no unchecked assertion
   * in it or in what it refers to.
   * @param {Schema} node
   * @returns {boolean}
   */
  exact(node) {
    if (node === null || typeof node !== 'object') return true;
    const known = this.exactness.get(node);
    if (known !== undefined) return known;
    this.exactness.set(node, true); // a cycle through $ref adds nothing unchecked
    const patterns = [node.pattern, ...Object.keys(node.patternProperties ?? {})].filter((p) => typeof p === 'string');
    const ref = node.$ref === undefined ? true : this.target(node);
    const exact = !UNCHECKED.some((keyword) => keyword in node)
      && patterns.every((p) => this.regexp(p) !== null)
      && ref !== undefined && this.exact(ref)
      && subschemas(node).every((sub) => this.exact(sub));
    this.exactness.set(node, exact);
    return exact;
  }
}

/**
 * The subschemas directly under a schema (booleans included), $defs too.
 * @param {Record<string, any>} node
 * @returns {Schema[]}
 */
function subschemas(node) {
  /** @type {Schema[]} */
  const found = [];
  for (const key of ['items', 'contains', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else']) {
    if (node[key] !== undefined) found.push(node[key]);
  }
  for (const key of ['prefixItems', 'allOf', 'anyOf', 'oneOf']) {
    if (Array.isArray(node[key])) found.push(...node[key]);
  }
  for (const key of ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions', 'dependencies']) {
    const map = node[key];
    if (map !== null && typeof map === 'object') found.push(...Object.values(map).filter((v) => !Array.isArray(v)));
  }
  return found.filter((s) => typeof s === 'boolean' || (s !== null && typeof s === 'object' && !Array.isArray(s)));
}
