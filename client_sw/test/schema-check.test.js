// The client's JSON Schema 2020-12 validator (src/local/schema-check.js): each keyword, the
// pointer and the server's wording of the first problem, and the rule that it never
// refuses what the server may take (an assertion it cannot check decides nothing where
// failing would make a record valid). tests/client/test_schema_check_agrees.py compares it
// with the server's validator on generated schemas and documents.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SchemaCheck, schemaProblem } from '../src/local/schema-check.js';
import { isMultipleOf } from '../src/local/json-values.js';

/**
 * @param {any} schema
 * @param {unknown} data
 * @returns {[string, string] | null}
 */
function found(schema, data) {
  const problem = schemaProblem(schema, data);
  return problem && [problem.pointer, problem.message];
}

test('types, enum and const, in the server\'s words', () => {
  assert.deepEqual(found({ type: 'string' }, 1), ['', '1 is not of type "string"']);
  assert.deepEqual(found({ type: ['string', 'null'] }, 1), ['', '1 is not of types "null", "string"']);
  assert.equal(found({ type: 'integer' }, 2), null);
  assert.deepEqual(found({ type: 'integer' }, 1.5), ['', '1.5 is not of type "integer"']);
  assert.deepEqual(found({ type: 'number' }, true), ['', 'true is not of type "number"']);
  assert.deepEqual(found({ type: 'object' }, [1]), ['', '[1] is not of type "object"']);
  assert.deepEqual(found({ enum: [1, 'a'] }, 2), ['', '2 is not one of 1 or "a"']);
  assert.deepEqual(found({ enum: [1, 2, 3, 4] }, 5), ['', '5 is not one of 1, 2 or 2 other candidates']);
  assert.equal(found({ enum: [{ a: [1] }] }, { a: [1] }), null);
  assert.deepEqual(found({ const: 'a' }, 'b'), ['', '"a" was expected']);
  assert.deepEqual(found({ const: 0 }, false), ['', '0 was expected'], 'false is not 0');
  assert.equal(found({ const: { a: 1, b: 2 } }, { b: 2, a: 1 }), null, 'key order does not matter');
});

test('strings: lengths in code points, patterns with the u flag', () => {
  assert.deepEqual(found({ maxLength: 1 }, 'ab'), ['', '"ab" is longer than 1 character']);
  assert.deepEqual(found({ minLength: 2 }, '😀'), ['', '"😀" is shorter than 2 characters'], 'one code point, two UTF-16 units');
  assert.equal(found({ maxLength: 1 }, '😀'), null);
  assert.deepEqual(found({ pattern: '^a' }, 'b'), ['', '"b" does not match "^a"']);
  assert.ok(found({ pattern: '^\\d+$' }, '٣'), '\\d is ASCII digits, as on the server');
  assert.equal(found({ pattern: '^\\p{L}+$' }, 'éZ'), null);
  assert.equal(found({ pattern: 'b' }, 'abc'), null, 'a pattern is not anchored');
});

test('numbers: bounds, and multipleOf on decimal forms as the server decides', () => {
  assert.deepEqual(found({ minimum: 2 }, 1), ['', '1 is less than the minimum of 2']);
  assert.deepEqual(found({ maximum: 2 }, 3), ['', '3 is greater than the maximum of 2']);
  assert.deepEqual(found({ exclusiveMinimum: 2 }, 2), ['', '2 is less than or equal to the minimum of 2']);
  assert.deepEqual(found({ exclusiveMaximum: 2 }, 2), ['', '2 is greater than or equal to the maximum of 2']);
  assert.deepEqual(found({ multipleOf: 3 }, 4), ['', '4 is not a multiple of 3']);
  assert.equal(found({ minimum: 2 }, 'x'), null, 'bounds apply to numbers only');
  for (const [value, divisor, expected] of /** @type {[number, number, boolean][]} */ ([
    [0.7, 0.1, true], [0.35, 0.1, false], [-0.2, 0.1, true], [19.99, 0.01, true], [0.9, 0.3, true],
    [4.5, 1.5, true], [4.25, 0.5, false], [4.5, 3, false], [0, 0.1, true], [0.05, 0.1, false],
    [1070468.14, 0.01, true], [1e300, 1e-5, true], [2 ** 53, 2, true], [7, 2, false],
  ])) {
    assert.equal(isMultipleOf(value, divisor), expected, `${value} multipleOf ${divisor}`);
  }
});

test('arrays: items, prefixItems, contains, sizes, uniqueItems', () => {
  assert.deepEqual(found({ items: { type: 'string' } }, ['a', 1]), ['/1', '1 is not of type "string"']);
  assert.deepEqual(found({ prefixItems: [{ type: 'string' }], items: false }, ['a', 1]), ['/1', 'False schema does not allow 1']);
  assert.equal(found({ prefixItems: [{ type: 'string' }] }, ['a', 1]), null);
  assert.deepEqual(found({ contains: { type: 'string' } }, [1]), ['', 'None of [1] are valid under the given schema']);
  assert.equal(found({ contains: { type: 'string' }, minContains: 0 }, [1]), null);
  assert.match(found({ contains: { type: 'string' }, minContains: 2 }, ['a', 1])?.[1] ?? '', /has 1 item valid .* fewer than the 2 of minContains/);
  assert.match(found({ contains: { type: 'string' }, maxContains: 1 }, ['a', 'b'])?.[1] ?? '', /more than the 1 of maxContains/);
  assert.deepEqual(found({ minItems: 2 }, [1]), ['', '[1] has less than 2 items']);
  assert.deepEqual(found({ maxItems: 0 }, [1]), ['', '[1] has more than 0 items']);
  assert.deepEqual(found({ uniqueItems: true }, [{ a: 1, b: 2 }, { b: 2, a: 1 }]), ['', '[{"a":1,"b":2},{"b":2,"a":1}] has non-unique elements']);
  assert.equal(found({ uniqueItems: true }, [1, true, '1']), null, 'true, 1 and "1" are three values');
});

test('objects: required, properties, additional and pattern properties, names, sizes, dependencies', () => {
  assert.deepEqual(found({ required: ['a', 'b'] }, { a: 1 }), ['', '"b" is a required property']);
  assert.deepEqual(found({ properties: { 'a/b~c': { type: 'string' } } }, { 'a/b~c': 1 }), ['/a~1b~0c', '1 is not of type "string"']);
  assert.deepEqual(found({ properties: { a: {} }, additionalProperties: false }, { a: 1, b: 2, c: 3 }),
    ['', "Additional properties are not allowed ('b', 'c' were unexpected)"]);
  assert.deepEqual(found({ additionalProperties: { type: 'string' } }, { a: 1 }), ['/a', '1 is not of type "string"']);
  assert.deepEqual(found({ patternProperties: { '^x': { type: 'string' } }, additionalProperties: false }, { xa: 1 }), ['/xa', '1 is not of type "string"']);
  assert.equal(found({ patternProperties: { '^x': {} }, additionalProperties: false }, { xa: 1 }), null);
  assert.deepEqual(found({ propertyNames: { maxLength: 2 } }, { abc: 1 }), ['', '"abc" is longer than 2 characters']);
  assert.deepEqual(found({ minProperties: 1 }, {}), ['', '{} has less than 1 property']);
  assert.deepEqual(found({ maxProperties: 1 }, { a: 1, b: 2 }), ['', '{"a":1,"b":2} has more than 1 property']);
  assert.deepEqual(found({ dependentRequired: { a: ['b'] } }, { a: 1 }), ['', '"b" is a required property']);
  assert.deepEqual(found({ dependentSchemas: { a: { required: ['c'] } } }, { a: 1 }), ['', '"c" is a required property']);
  assert.deepEqual(found({ dependencies: { a: ['b'] } }, { a: 1 }), ['', '"b" is a required property'], 'the older keyword, which the server reads');
  assert.equal(found({ required: ['a'] }, [1]), null, 'object keywords apply to objects only');
});

test('combinators, if/then/else, booleans and $ref', () => {
  assert.deepEqual(found({ allOf: [{}, { type: 'string' }] }, 1), ['', '1 is not of type "string"']);
  assert.deepEqual(found({ anyOf: [{ type: 'string' }, { type: 'null' }] }, 1),
    ['', "1 is not valid under any of the schemas listed in the 'anyOf' keyword"]);
  assert.deepEqual(found({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 1),
    ['', "1 is valid under more than one of the schemas listed in the 'oneOf' keyword"]);
  assert.equal(found({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 1.5), null);
  assert.deepEqual(found({ not: { type: 'integer' } }, 1), ['', '{"type":"integer"} is not allowed for 1']);
  assert.deepEqual(found({ if: { type: 'integer' }, then: { minimum: 5 }, else: { minLength: 5 } }, 1), ['', '1 is less than the minimum of 5']);
  assert.deepEqual(found({ if: { type: 'integer' }, then: { minimum: 5 }, else: { minLength: 5 } }, 'a'), ['', '"a" is shorter than 5 characters']);
  assert.deepEqual(found(false, 1), ['', 'False schema does not allow 1']);
  assert.equal(found(true, 1), null);
  assert.deepEqual(found({ properties: { a: false } }, { a: 1 }), ['/a', 'False schema does not allow 1']);
  const defs = { $defs: { title: { type: 'string', maxLength: 3 } }, properties: { t: { $ref: '#/$defs/title' } } };
  assert.deepEqual(found(defs, { t: 'long' }), ['/t', '"long" is longer than 3 characters']);
  assert.deepEqual(found({ $ref: '#it', $defs: { x: { $anchor: 'it', type: 'string' } } }, 1), ['', '1 is not of type "string"']);
  assert.deepEqual(found({ $ref: '#/$defs/a~1b', $defs: { 'a/b': { type: 'string' } } }, 1), ['', '1 is not of type "string"']);
  // A list of lists of strings, by a schema that refers to itself.
  const tree = { type: 'array', items: { anyOf: [{ type: 'string' }, { $ref: '#' }] } };
  assert.equal(found(tree, ['a', ['b', ['c']]]), null);
  assert.ok(found(tree, ['a', [1]]));
  assert.equal(found({ $ref: '#' }, 1), null, 'a schema that is only itself decides nothing (and ends)');
  // Under a nested $id, a #-reference is to that resource: its own $defs, not the root's.
  const nested = { properties: { a: { $id: 'sub', $ref: '#/$defs/s', $defs: { s: { type: 'integer' } } } }, $defs: { s: { type: 'string' } } };
  assert.equal(found(nested, { a: 1 }), null);
  assert.ok(found(nested, { a: 'x' }));
});

test('what it cannot check never refuses a record the server may take', () => {
  // unevaluatedProperties is not checked here: alone it passes (the server decides) ...
  assert.equal(found({ unevaluatedProperties: false }, { a: 1 }), null);
  // ... and where its failing would make the record valid, it decides nothing either.
  assert.equal(found({ not: { unevaluatedProperties: false } }, {}), null);
  assert.equal(found({ oneOf: [{ type: 'object' }, { unevaluatedProperties: false }] }, {}), null);
  assert.ok(found({ oneOf: [{ type: 'object' }, { type: 'object', minProperties: 0 }] }, {}), 'two exact matches still fail');
  assert.ok(found({ oneOf: [{ type: 'string' }, { unevaluatedProperties: false, type: 'string' }] }, 1), 'no match at all fails');
  const inexactIf = { if: { unevaluatedProperties: false }, then: { required: ['a'] }, else: { required: ['b'] } };
  assert.equal(found(inexactIf, { a: 1 }), null);
  assert.equal(found(inexactIf, { b: 1 }), null, 'the server may take the else branch');
  assert.ok(found(inexactIf, { c: 1 }), 'neither branch holds');
  assert.equal(found({ contains: { unevaluatedProperties: false }, maxContains: 1 }, [{}, {}]), null);
  // A reference outside the schema, and a pattern JavaScript cannot read.
  assert.equal(found({ not: { $ref: 'https://example.com/other.json' } }, 1), null);
  assert.equal(found({ pattern: '(?i)abc' }, 'x'), null);
  assert.equal(found({ not: { pattern: '(?i)abc' } }, 'x'), null);
  assert.equal(found({ patternProperties: { '(?i)^x': { type: 'string' } }, additionalProperties: false }, { X: 1 }), null);
  // format and unknown keywords are annotations: ignored, as the server ignores them.
  assert.equal(found({ format: 'email', 'x-widget': 'text' }, 'not an email'), null);
  assert.ok(found({ not: { format: 'email' } }, 'x'), 'an annotation is exact: not {} refuses');
});

test('a compiled schema checks many values', () => {
  const check = new SchemaCheck({ type: 'object', required: ['title'], properties: { title: { type: 'string', maxLength: 5 } } });
  assert.equal(check.check({ title: 'milk' }), null);
  assert.deepEqual(check.check({ title: 'cheese' }), { pointer: '/title', message: '"cheese" is longer than 5 characters' });
  assert.deepEqual(check.check({}), { pointer: '', message: '"title" is a required property' });
});

test('it runs where code cannot be generated from strings (a strict Content Security Policy)', () => {
  const module = fileURLToPath(new URL('../src/local/schema-check.js', import.meta.url));
  const script = `
    const { schemaProblem } = await import(${JSON.stringify(module)});
    const problem = schemaProblem({ type: 'object', properties: { a: { pattern: '^x', multipleOf: 0.5 } }, required: ['a'] }, { a: 'y' });
    if (problem?.pointer !== '/a') throw new Error('unexpected: ' + JSON.stringify(problem));
    let blocked = false;
    try { new Function('return 1'); } catch { blocked = true; }
    if (!blocked) throw new Error('code generation was not blocked');
  `;
  const run = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});
