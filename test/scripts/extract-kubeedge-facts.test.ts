/**
 * The Go reading in scripts/extract-kubeedge-facts.ts, on the shapes the kubeedge sources use: struct fields
 * (named, several names, embedded, pointers, maps, tags, comments) and call arguments with strings.
 */
import t from 'tap'
import { jsonTag, parseFieldLines, splitArgs, stripComments } from '../../scripts/extract-kubeedge-facts.js'

t.test('struct fields: names, embedded types, tags; comments ignored', (t) => {
  const body = stripComments(`
	// Enable says "x: y" // not a field
	Enable bool \`json:"enable"\`
	/* a block
	   Comment string \`json:"no"\` */
	TailoredKubeletConfig *tailored.KubeletConfiguration \`json:"tailoredKubeletConfig"\`
	TailoredKubeletFlag
	*metav1.TypeMeta \`json:",inline"\`
	A, B int32 \`json:"a,omitempty" protobuf:"x"\`
	Labels map[string]string \`json:"labels,omitempty"\`
	Any interface{}
`)
  t.same(parseFieldLines(body), [
    { names: ['Enable'], type: 'bool', tag: 'json:"enable"' },
    { names: ['TailoredKubeletConfig'], type: '*tailored.KubeletConfiguration', tag: 'json:"tailoredKubeletConfig"' },
    { names: [], type: 'TailoredKubeletFlag', tag: null },
    { names: [], type: '*metav1.TypeMeta', tag: 'json:",inline"' },
    { names: ['A', 'B'], type: 'int32', tag: 'json:"a,omitempty" protobuf:"x"' },
    { names: ['Labels'], type: 'map[string]string', tag: 'json:"labels,omitempty"' },
    { names: ['Any'], type: 'interface{}', tag: null },
  ])
  t.equal(jsonTag('json:"a,omitempty" protobuf:"x"'), 'a,omitempty')
  t.equal(jsonTag('protobuf:"x"'), null)
  t.equal(jsonTag(null), null)
  t.throws(() => parseFieldLines('func() {}'), /cannot read struct field/)
  t.end()
})

t.test('call arguments split at top-level commas only', (t) => {
  t.same(splitArgs('&o.Labels, common.FlagNameLabels, "l", o.Labels,\n\t"key1=value1,key2=value2"'), ['&o.Labels', 'common.FlagNameLabels', '"l"', 'o.Labels', '"key1=value1,key2=value2"'])
  t.same(splitArgs('fmt.Sprintf("a, %s", x), `raw, "q"`'), ['fmt.Sprintf("a, %s", x)', '`raw, "q"`'])
  t.end()
})
