// nc3d view: the page's script. Written for nc3d (src/nc3d/view.py builds the page around it);
// three.js (MIT, vendored beside this file) does the WebGL plumbing, except the neural SDF shader.
//
// Conventions shared with nc3d's Python renderer (src/nc3d/render/): everything is drawn in the
// normalized frame of the original; the orbit camera starts at azimuth 30°, elevation 20°,
// distance 4.5, vertical field of view 35°, +y up; surfaces are shaded by shade() of
// render/shading.py (key light near the eye, ambient, Blinn-Phong highlight, rim, gamma 2.2).

import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

// ---------------------------------------------------------------------------------------------
// status: what a test (or a curious user) can read back: window.nc3dView.status
const root = document.documentElement;
const status = { state: 'loading', errors: [], readyMs: null, item: 0, shape: 0, thumbnails: 0, frames: 0 };
const api = { status };
window.nc3dView = api;

function fail(err) {
  const text = err && err.stack ? String(err.stack) : String(err && err.message ? err.message : err);
  status.errors.push(text);
  status.state = 'error';
  root.dataset.state = 'error';
  const box = document.getElementById('error');
  box.hidden = false;
  box.textContent = 'nc3d view: ' + text;
  document.getElementById('state').textContent = 'error';
  console.error('nc3d view:', text);
}
window.addEventListener('error', (ev) => fail(ev.error || ev.message));
window.addEventListener('unhandledrejection', (ev) => fail(ev.reason));

function setReady() {
  if (status.state !== 'loading') return;
  status.state = 'ready';
  status.readyMs = performance.now();
  root.dataset.state = 'ready';
  document.getElementById('state').textContent = `ready in ${(status.readyMs / 1000).toFixed(2)} s`;
}

// ---------------------------------------------------------------------------------------------
// data: a JSON description, and binary arrays (zlib + base64) in their own script elements
const DATA = JSON.parse(document.getElementById('nc3d-data').textContent);

function base64Bytes(text) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function blobBytes(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page data ${id} is missing`);
  const packed = base64Bytes(el.textContent.trim());
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ---------------------------------------------------------------------------------------------
// small DOM helpers (text only: names come from files and are never parsed as HTML)
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const fmtInt = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
function fmtNum(x, digits = 4) {
  if (x === null || x === undefined || !isFinite(x)) return '–';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}
function table(rows) {
  const t = el('table', { class: 'numbers' });
  for (const [k, v] of rows) if (v !== null && v !== undefined) t.append(el('tr', {}, el('td', { text: k }), el('td', { text: String(v) })));
  return t;
}
function numberRows(n) {
  if (!n) return [];
  if (n.empty) return [['surface', 'none decoded']];
  return [
    ['Chamfer-p2s', fmtNum(n.chamfer_p2s)],
    ['F@0.01', fmtNum(n['f_score_0.01'], 3)],
    ['F@0.005', n['f_score_0.005'] !== undefined ? fmtNum(n['f_score_0.005'], 3) : null],
    ['normal consistency', n.normal_consistency !== undefined ? fmtNum(n.normal_consistency, 3) : null],
    ['Hausdorff', n.hausdorff !== undefined ? fmtNum(n.hausdorff) : null],
  ];
}
function numberSource(n) {
  if (!n || n.empty) return null;
  return n.source === 'header'
    ? `Numbers from the file header (the encoder's own measurement${n.resolution ? ` at ${n.resolution}³` : ''}).`
    : `Numbers measured here against the original (${fmtInt(n.samples)} samples per surface${n.resolution ? `, the network meshed at ${n.resolution}³` : ''}; lengths in the original's normalized frame).`;
}

// ---------------------------------------------------------------------------------------------
// camera and shading, as nc3d render has them
const CAMERA = { azimuth: 30, elevation: 20, distance: 4.5, fov: 35 };
const SURFACE = [176, 196, 228]; // render/shading.py DEFAULT_COLOR (sRGB)
const ALBEDO = new THREE.Vector3(...SURFACE.map((c) => Math.pow(c / 255, 2.2)));

function placeCamera(camera, { azimuth, elevation, distance }) {
  const a = THREE.MathUtils.degToRad(azimuth), e = THREE.MathUtils.degToRad(elevation);
  camera.position.set(distance * Math.cos(e) * Math.sin(a), distance * Math.sin(e), distance * Math.cos(e) * Math.cos(a));
  camera.up.set(0, 1, 0);
  camera.lookAt(0, 0, 0);
  camera.updateMatrixWorld(true);
}

// uniforms every surface material shares; updated from the camera before each pane is drawn
const VIEW = {
  uRight: { value: new THREE.Vector3(1, 0, 0) },
  uUp: { value: new THREE.Vector3(0, 1, 0) },
  uForward: { value: new THREE.Vector3(0, 0, -1) },
  uEye: { value: new THREE.Vector3(0, 0, 4.5) },
  uTanHalf: { value: Math.tan(THREE.MathUtils.degToRad(CAMERA.fov) / 2) },
  uViewport: { value: new THREE.Vector4(0, 0, 1, 1) },
  uAlbedo: { value: ALBEDO },
};
function setView(camera, viewport) {
  camera.updateMatrixWorld(true);
  const m = camera.matrixWorld.elements;
  VIEW.uRight.value.set(m[0], m[1], m[2]).normalize();
  VIEW.uUp.value.set(m[4], m[5], m[6]).normalize();
  VIEW.uForward.value.set(-m[8], -m[9], -m[10]).normalize();
  VIEW.uEye.value.setFromMatrixPosition(camera.matrixWorld);
  VIEW.uTanHalf.value = Math.tan(THREE.MathUtils.degToRad(camera.fov) / 2);
  VIEW.uViewport.value.copy(viewport);
}

const SHADE_GLSL = /* glsl */ `
uniform vec3 uRight, uUp, uForward, uAlbedo;
// render/shading.py shade(): two-sided, key light near the eye, ambient, highlight, rim, gamma 2.2
vec3 shadeNC3D(vec3 n, vec3 d) {
  float len = length(n);
  n = len > 1e-12 ? n / len : -d;
  if (dot(n, d) > 0.0) n = -n;
  vec3 light = normalize(-uForward + 0.45 * uUp - 0.35 * uRight);
  vec3 view = -d;
  float diffuse = max(dot(n, light), 0.0);
  vec3 h = normalize(light + view);
  float spec = pow(max(dot(n, h), 0.0), 48.0);
  float rim = pow(1.0 - clamp(dot(n, view), 0.0, 1.0), 3.0);
  vec3 lin = uAlbedo * (0.22 + 0.85 * diffuse) + vec3(0.12 * spec + 0.18 * rim);
  return pow(clamp(lin, 0.0, 1.0), vec3(1.0 / 2.2));
}
`;

function surfaceMaterial() {
  return new THREE.ShaderMaterial({
    uniforms: { uRight: VIEW.uRight, uUp: VIEW.uUp, uForward: VIEW.uForward, uAlbedo: VIEW.uAlbedo },
    vertexShader: /* glsl */ `
      varying vec3 vWorld;
      void main() {
        vec4 w = modelMatrix * vec4(position, 1.0);
        vWorld = w.xyz;
        gl_Position = projectionMatrix * viewMatrix * w;
      }`,
    fragmentShader: SHADE_GLSL + /* glsl */ `
      varying vec3 vWorld;
      void main() {
        vec3 n = cross(dFdx(vWorld), dFdy(vWorld)); // the triangle's normal, as nc3d's ray caster uses
        gl_FragColor = vec4(shadeNC3D(n, normalize(vWorld - cameraPosition)), 1.0);
      }`,
    side: THREE.DoubleSide,
    polygonOffset: true,
    polygonOffsetFactor: 1,
    polygonOffsetUnits: 1,
  });
}
const WIRE = new THREE.MeshBasicMaterial({ color: 0x1f2d3d, wireframe: true, transparent: true, opacity: 0.45 });

// a mesh of the page (view.py pack_mesh): 16-bit vertices over their box, as differences from
// the previous vertex in two byte planes; the flattened triangle indices as zigzag-coded
// differences in four byte planes. The vertices stay 16-bit on the GPU (a normalized attribute,
// the box as the object's transform).
async function loadMesh(entry) {
  const b = await blobBytes(entry.blob);
  const nv = entry.vertices, nf = entry.faces, n = 3 * nv, m = 3 * nf;
  if (b.byteLength !== 2 * n + 4 * m) throw new Error(`mesh data has ${b.byteLength} bytes, expected ${2 * n + 4 * m}`);
  const pos = new Uint16Array(n);
  let x = 0, y = 0, z = 0;
  for (let i = 0; i < n; i += 3) {
    x = (x + (b[i] | (b[n + i] << 8))) & 0xffff;
    y = (y + (b[i + 1] | (b[n + i + 1] << 8))) & 0xffff;
    z = (z + (b[i + 2] | (b[n + i + 2] << 8))) & 0xffff;
    pos[i] = x; pos[i + 1] = y; pos[i + 2] = z;
  }
  const idx = nv <= 65536 ? new Uint16Array(m) : new Uint32Array(m);
  const o = 2 * n;
  let cur = 0;
  for (let i = 0; i < m; i++) {
    const zz = (b[o + i] | (b[o + m + i] << 8) | (b[o + 2 * m + i] << 16) | (b[o + 3 * m + i] << 24)) >>> 0;
    cur += (zz >>> 1) ^ -(zz & 1);
    if (cur < 0 || cur >= nv) throw new Error(`mesh data: triangle index ${cur} is not below ${nv}`);
    idx[i] = cur;
  }
  const g = new THREE.BufferGeometry();
  g.setAttribute('position', new THREE.BufferAttribute(pos, 3, true));
  g.setIndex(new THREE.BufferAttribute(idx, 1));
  return g;
}
function meshObject(geometry, entry) {
  const group = new THREE.Group();
  const solid = new THREE.Mesh(geometry, surfaceMaterial());
  const wire = new THREE.Mesh(geometry, WIRE);
  wire.visible = false;
  for (const m of [solid, wire]) {
    m.position.set(...entry.lo);
    m.scale.set(...entry.scale.map((s) => s * 65535));
    m.frustumCulled = false;
    group.add(m);
  }
  group.userData = { solid, wire, geometry };
  return group;
}
function disposeObject(obj) {
  if (!obj) return;
  obj.traverse((o) => {
    if (o.isMesh) {
      if (o.material !== WIRE) o.material.dispose();
    }
  });
  if (obj.userData.geometry) obj.userData.geometry.dispose();
}

// ---------------------------------------------------------------------------------------------
// the neural SDF: the stored network as GLSL, sphere-traced like render/sdf.py
const MAX_STEPS = 128, EPS = 1e-3, STEP_SCALE = 0.9, NORMAL_EPS = 2e-3, BOUNDING_RADIUS2 = 3.0;
//: networks up to this many weights are compiled into the shader as constants (fast);
//: larger ones are read from a float texture in loops (any size, slower)
const CONST_LIMIT = 40000;

function glslFloat(v) {
  if (v === 0 || !isFinite(v)) return '0.';
  let s = v.toPrecision(8);
  if (s.includes('e')) {
    const [m, e] = s.split('e');
    s = (m.includes('.') ? m : m + '.') + 'e' + e;
  } else if (!s.includes('.')) s += '.';
  return s;
}

// storage order (nn/mlp.py Architecture.tensor_shapes): W0 (out, in), b0 (out,), W1, b1, ...
function networkLayers(net, tensors) {
  const D = net.encoding === 'positional' ? 3 + 6 * net.frequencies : 3;
  const dims = [D, ...Array(net.layers).fill(net.width), 1];
  const layers = [];
  let off = 0;
  for (let k = 0; k + 1 < dims.length; k++) {
    const nin = dims[k], nout = dims[k + 1];
    layers.push({ nin, nout, w: off, b: off + nin * nout });
    off += nin * nout + nout;
  }
  if (off !== tensors.length) throw new Error(`the network has ${tensors.length} weights, its architecture ${off}`);
  return layers;
}

// the encoded input as scalar GLSL expressions (nn/mlp.py SdfMLP.encode: x, then sin, then cos of
// x_c * 2^k * pi, c-major)
function inputTerms(net) {
  const t = ['p.x', 'p.y', 'p.z'];
  if (net.encoding !== 'positional') return t;
  const F = net.frequencies;
  for (const fn of ['sin', 'cos'])
    for (const c of ['x', 'y', 'z'])
      for (let k = 0; k < F; k++) t.push(`${fn}(p.${c} * ${glslFloat(Math.pow(2, k) * Math.PI)})`);
  return t;
}
function packTerms(terms, name) {
  const lines = [];
  for (let i = 0; i < terms.length; i += 4) {
    const q = terms.slice(i, i + 4);
    while (q.length < 4) q.push('0.');
    lines.push(`  vec4 ${name}${i / 4} = vec4(${q.join(', ')});`);
  }
  return lines;
}
const act = (net, x) => (net.activation === 'siren' ? `sin(30.0 * (${x}))` : `max(${x}, 0.)`);

function networkGLSLConst(net, T) {
  const layers = networkLayers(net, T);
  const lines = ['float net(vec3 p) {', ...packTerms(inputTerms(net), 'a0_')];
  layers.forEach((L, k) => {
    const I4 = Math.ceil(L.nin / 4), O4 = Math.ceil(L.nout / 4);
    const last = k === layers.length - 1;
    if (last) {
      const terms = [glslFloat(T[L.b])];
      for (let i4 = 0; i4 < I4; i4++) {
        const w = [0, 1, 2, 3].map((c) => (4 * i4 + c < L.nin ? T[L.w + 4 * i4 + c] : 0));
        if (w.some((x) => x !== 0)) terms.push(`dot(vec4(${w.map(glslFloat).join(', ')}), a${k}_${i4})`);
      }
      lines.push(`  float s = ${terms.join(' + ')};`);
      return;
    }
    for (let o4 = 0; o4 < O4; o4++) {
      const b = [0, 1, 2, 3].map((r) => (4 * o4 + r < L.nout ? T[L.b + 4 * o4 + r] : 0));
      const terms = [`vec4(${b.map(glslFloat).join(', ')})`];
      for (let i4 = 0; i4 < I4; i4++) {
        const m = []; // column-major: column c holds the weights of input 4*i4+c for the 4 outputs
        let any = false;
        for (let c = 0; c < 4; c++)
          for (let r = 0; r < 4; r++) {
            const o = 4 * o4 + r, i = 4 * i4 + c;
            const v = o < L.nout && i < L.nin ? T[L.w + o * L.nin + i] : 0;
            any ||= v !== 0;
            m.push(glslFloat(v));
          }
        if (any) terms.push(`mat4(${m.join(', ')}) * a${k}_${i4}`);
      }
      lines.push(`  vec4 a${k + 1}_${o4} = ${act(net, terms.join(' + '))};`);
    }
  });
  lines.push('  return tanh(clamp(s, -15.0, 15.0));', '}');
  return { code: lines.join('\n'), uniforms: {} };
}

// the same network read from an RGBA float texture: per layer, for each (output block, input
// block) the 4 columns of a mat4, then one texel of bias per output block
const TEX_W = 1024;
function networkGLSLTexture(net, T) {
  const layers = networkLayers(net, T);
  const texels = [];
  const push = (a, b, c, d) => texels.push(a, b, c, d);
  const bases = [];
  for (const [k, L] of layers.entries()) {
    const I4 = Math.ceil(L.nin / 4), O4 = Math.ceil(L.nout / 4);
    bases.push(texels.length / 4);
    const W = (o, i) => (o < L.nout && i < L.nin ? T[L.w + o * L.nin + i] : 0);
    if (k === layers.length - 1) {
      for (let i4 = 0; i4 < I4; i4++) push(W(0, 4 * i4), W(0, 4 * i4 + 1), W(0, 4 * i4 + 2), W(0, 4 * i4 + 3));
      push(T[L.b], 0, 0, 0);
      continue;
    }
    for (let o4 = 0; o4 < O4; o4++)
      for (let i4 = 0; i4 < I4; i4++)
        for (let c = 0; c < 4; c++) push(W(4 * o4, 4 * i4 + c), W(4 * o4 + 1, 4 * i4 + c), W(4 * o4 + 2, 4 * i4 + c), W(4 * o4 + 3, 4 * i4 + c));
    for (let o4 = 0; o4 < O4; o4++) {
      const B = (r) => (4 * o4 + r < L.nout ? T[L.b + 4 * o4 + r] : 0);
      push(B(0), B(1), B(2), B(3));
    }
  }
  const n = texels.length / 4, rows = Math.ceil(n / TEX_W);
  const data = new Float32Array(TEX_W * rows * 4);
  data.set(texels);
  const tex = new THREE.DataTexture(data, TEX_W, rows, THREE.RGBAFormat, THREE.FloatType);
  tex.minFilter = tex.magFilter = THREE.NearestFilter;
  tex.needsUpdate = true;
  const IN4 = Math.ceil(layers[0].nin / 4), H4 = Math.ceil(net.width / 4), M4 = Math.max(IN4, H4);
  const hidden = layers.length - 1;
  const code = [
    'uniform highp sampler2D uWeights;',
    `vec4 wt(int i) { return texelFetch(uWeights, ivec2(i % ${TEX_W}, i / ${TEX_W}), 0); }`,
    'float net(vec3 p) {',
    `  vec4 a[${M4}];`,
    `  vec4 h[${M4}];`,
    ...packTerms(inputTerms(net), 'e'),
    ...Array.from({ length: IN4 }, (_, i) => `  a[${i}] = e${i};`),
    `  int base = 0;`,
    `  for (int k = 0; k < ${hidden}; k++) {`,
    `    int I4 = k == 0 ? ${IN4} : ${H4};`,
    `    for (int o = 0; o < ${H4}; o++) {`,
    `      vec4 s = wt(base + ${H4} * I4 * 4 + o);`,
    `      for (int i = 0; i < I4; i++) {`,
    `        int t = base + (o * I4 + i) * 4;`,
    `        s += mat4(wt(t), wt(t + 1), wt(t + 2), wt(t + 3)) * a[i];`,
    `      }`,
    `      h[o] = ${act(net, 's')};`,
    `    }`,
    `    base += ${H4} * I4 * 4 + ${H4};`,
    `    for (int o = 0; o < ${H4}; o++) a[o] = h[o];`,
    `  }`,
    `  float s = wt(base + ${H4}).x;`,
    `  for (int i = 0; i < ${H4}; i++) s += dot(wt(base + i), a[i]);`,
    '  return tanh(clamp(s, -15.0, 15.0));',
    '}',
  ].join('\n');
  if (bases[bases.length - 1] === undefined) throw new Error('empty network');
  return { code, uniforms: { uWeights: { value: tex } }, texture: tex };
}

function sdfMaterial(net, tensors, mode) {
  const useTexture = mode === 'texture' || (mode !== 'const' && tensors.length > CONST_LIMIT);
  const gen = useTexture ? networkGLSLTexture(net, tensors) : networkGLSLConst(net, tensors);
  const fragmentShader = SHADE_GLSL + /* glsl */ `
uniform vec3 uEye;
uniform vec4 uViewport;   // x, y, width, height of this view, device pixels
uniform float uTanHalf;
${gen.code}
// codecs/implicit/shape.py sdf_normalized: the network means something only in [-1, 1]^3; outside,
// the distance to the cube plus the network's (non-negative part) at the nearest point of the cube
float field(vec3 p) {
  vec3 c = clamp(p, -1.0, 1.0);
  float f = net(c);
  float o = length(p - c);
  return o > 0.0 ? o + max(f, 0.0) : f;
}
vec3 axisOffset(int k) {
  vec3 e = (k == 0 || k == 3) ? vec3(1.0, 0.0, 0.0) : ((k == 1 || k == 4) ? vec3(0.0, 1.0, 0.0) : vec3(0.0, 0.0, 1.0));
  return k < 3 ? e : -e;
}
void main() {
  // the ray through this pixel's center (render/camera.py Camera.rays)
  vec2 f = (gl_FragCoord.xy - uViewport.xy) / uViewport.zw * 2.0 - 1.0;
  float aspect = uViewport.z / uViewport.w;
  vec3 d = normalize(uForward + f.x * uTanHalf * aspect * uRight + f.y * uTanHalf * uUp);
  vec3 o = uEye;
  // render/sdf.py sphere_trace: march inside the sphere of radius sqrt(3) about the origin
  float b = dot(o, d), c = dot(o, o) - ${glslFloat(BOUNDING_RADIUS2)};
  float disc = b * b - c;
  if (disc <= 0.0) discard;
  float root = sqrt(disc);
  float tExit = -b + root;
  if (tExit <= 0.0) discard;
  float tEnter = max(-b - root, 0.0);
  float t = tEnter;
  bool hit = false;
  vec3 hp = vec3(0.0), g = vec3(0.0);
  int steps = 0, k = 0;
  // one call site of field() (the network is inlined once): ${MAX_STEPS} marching steps, then the
  // 6 central differences of the normal (render/sdf.py sdf_normals)
  for (int i = 0; i < ${MAX_STEPS + 6}; i++) {
    vec3 q = hit ? hp + ${glslFloat(NORMAL_EPS)} * axisOffset(k) : o + t * d;
    float v = field(q);
    if (!hit) {
      steps++;
      if (abs(v) < ${glslFloat(EPS)}) { hit = true; hp = q; continue; }
      t += ${glslFloat(STEP_SCALE)} * v;
      if (!(t <= tExit && t >= tEnter) || steps >= ${MAX_STEPS}) break;
    } else {
      g += v * axisOffset(k);
      k++;
      if (k == 6) break;
    }
  }
  if (!hit) discard;
  gl_FragColor = vec4(shadeNC3D(g, d), 1.0);
}`;
  const material = new THREE.ShaderMaterial({
    uniforms: {
      uRight: VIEW.uRight, uUp: VIEW.uUp, uForward: VIEW.uForward, uAlbedo: VIEW.uAlbedo,
      uEye: VIEW.uEye, uViewport: VIEW.uViewport, uTanHalf: VIEW.uTanHalf, ...gen.uniforms,
    },
    vertexShader: 'void main() { gl_Position = vec4(position.xy, 0.0, 1.0); }',
    fragmentShader,
    depthTest: false,
    depthWrite: false,
  });
  material.userData.mode = useTexture ? 'texture' : 'const';
  material.userData.texture = gen.texture || null;
  return material;
}

// ---------------------------------------------------------------------------------------------
// the stage: one WebGL canvas, one orbit camera, panes side by side that share it
class Stage {
  constructor() {
    this.canvas = document.getElementById('canvas');
    this.labels = document.getElementById('labels');
    this.readout = document.getElementById('readout');
    this.renderer = new THREE.WebGLRenderer({ canvas: this.canvas, antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.setClearColor(0xffffff, 1);
    this.camera = new THREE.PerspectiveCamera(CAMERA.fov, 1, 0.05, 100);
    placeCamera(this.camera, CAMERA);
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.minDistance = 0.3;
    this.controls.maxDistance = 30;
    this.controls.addEventListener('change', () => this.request());
    this.content = null;
    this.pending = false;
    this.drawn = null; // resolves the first time something is drawn
    new ResizeObserver(() => this.resize()).observe(this.canvas.parentElement);
    this.resize();
  }
  resize() {
    const p = this.canvas.parentElement;
    this.width = Math.max(p.clientWidth, 1);
    this.height = Math.max(p.clientHeight, 1);
    this.renderer.setSize(this.width, this.height, false);
    if (this.content && this.content.layout) this.content.layout(this);
    this.request();
  }
  resetCamera() {
    placeCamera(this.camera, CAMERA);
    this.controls.target.set(0, 0, 0);
    this.controls.update();
    this.request();
  }
  show(content) {
    if (this.content && this.content.dispose) this.content.dispose();
    this.content = content;
    this.labels.replaceChildren();
    this.readout.textContent = '';
    this.controls.enabled = !!content.orbit;
    if (content.layout) content.layout(this);
    return this.drawNow();
  }
  request() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }
  draw() {
    if (!this.content) return;
    try {
      this.content.draw(this);
      status.frames++;
    } catch (e) {
      fail(e);
    }
  }
  // draw at once and wait until the GPU has finished it (a one-pixel read is a sync point)
  drawNow() {
    this.draw();
    const gl = this.renderer.getContext();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
    return new Promise((r) => requestAnimationFrame(() => r()));
  }
  // the share of device pixels drawn (1: full resolution); the live network costs per pixel
  setDetail(scale) {
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2) * scale);
    this.resize();
  }
  // device-pixel viewport of a CSS-pixel rectangle (y from the top), as three computes it
  deviceRect(x, y, w, h) {
    const pr = this.renderer.getPixelRatio();
    const yb = this.height - y - h; // WebGL counts from the bottom
    return { css: [x, yb, w, h], dev: new THREE.Vector4(x, yb, w, h).multiplyScalar(pr).floor() };
  }
  // draw scenes side by side with the orbit camera (aspect per pane)
  drawPanes(panes) {
    const r = this.renderer, n = panes.length;
    r.setRenderTarget(null);
    r.setScissorTest(true);
    for (let i = 0; i < n; i++) {
      const x0 = Math.floor((i * this.width) / n), x1 = Math.floor(((i + 1) * this.width) / n);
      const { css, dev } = this.deviceRect(x0, 0, x1 - x0, this.height);
      r.setViewport(...css);
      r.setScissor(...css);
      this.camera.aspect = dev.z / dev.w;
      // nc3d render's 35° spans the shorter side: the vertical one, or here the horizontal one
      const half = Math.tan(THREE.MathUtils.degToRad(CAMERA.fov) / 2);
      this.camera.fov = THREE.MathUtils.radToDeg(2 * Math.atan(half / Math.min(this.camera.aspect, 1)));
      this.camera.updateProjectionMatrix();
      setView(this.camera, dev);
      r.clear();
      r.render(panes[i].scene, this.camera);
    }
    r.setScissorTest(false);
  }
  // one pane alone into an offscreen image: RGBA rows from the top, base64 (for tests)
  snapshot(scene, { width, height, azimuth, elevation, distance, fov }) {
    const r = this.renderer;
    const rt = new THREE.WebGLRenderTarget(width, height);
    const cam = new THREE.PerspectiveCamera(fov, width / height, 0.05, 100);
    placeCamera(cam, { azimuth, elevation, distance });
    setView(cam, new THREE.Vector4(0, 0, width, height));
    r.setRenderTarget(rt);
    r.setScissorTest(false);
    r.clear();
    r.render(scene, cam);
    const buf = new Uint8Array(width * height * 4);
    r.readRenderTargetPixels(rt, 0, 0, width, height, buf);
    r.setRenderTarget(null);
    rt.dispose();
    const rows = new Uint8Array(buf.length), stride = width * 4;
    for (let y = 0; y < height; y++) rows.set(buf.subarray((height - 1 - y) * stride, (height - y) * stride), y * stride);
    let bin = '';
    for (let i = 0; i < rows.length; i += 0x8000) bin += String.fromCharCode.apply(null, rows.subarray(i, i + 0x8000));
    this.request();
    return btoa(bin);
  }
  setLabels(texts) {
    this.labels.replaceChildren();
    const n = texts.length;
    texts.forEach((t, i) => {
      const x0 = (i * this.width) / n;
      this.labels.append(el('div', { text: t, style: `left:${x0 + 8}px; top:8px` }));
      if (i) this.labels.append(el('div', { class: 'sep', style: `left:${x0}px` }));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// surfaces: original | decoded, one camera (meshes, set shapes, implicit files)
class SurfaceView {
  constructor(panes) {
    this.orbit = true;
    this.panes = panes; // [{name, label, object (THREE.Object3D) or null}]
    for (const p of panes) {
      p.scene = new THREE.Scene();
      if (p.object) p.scene.add(p.object);
    }
  }
  layout(stage) {
    stage.setLabels(this.panes.map((p) => p.label));
  }
  draw(stage) {
    stage.drawPanes(this.panes);
  }
  setWireframe(on) {
    for (const p of this.panes) if (p.object && p.object.userData.wire) p.object.userData.wire.visible = on;
  }
  pane(name) {
    const p = this.panes.find((q) => q.name === name);
    if (!p) throw new Error(`no ${name} view here (views: ${this.panes.map((q) => q.name).join(', ')})`);
    return p;
  }
  dispose() {
    for (const p of this.panes) disposeObject(p.object);
  }
}

const triangles = (e) => (e ? `${fmtInt(e.faces)} triangles` : 'no surface');

async function surfaceViewOfShape(shape, implicit) {
  const panes = [];
  if (shape.original) {
    panes.push({ name: 'original', label: `original · ${triangles(shape.original)}`, object: meshObject(await loadMesh(shape.original), shape.original) });
  }
  if (implicit) {
    const tensors = new Float32Array((await blobBytes(implicit.network.tensors)).buffer);
    const material = sdfMaterial(implicit.network, tensors, api.sdfMode);
    const quad = new THREE.Mesh(new THREE.PlaneGeometry(2, 2), material);
    quad.frustumCulled = false;
    const obj = new THREE.Group();
    obj.add(quad);
    const n = implicit.network;
    panes.push({
      name: 'decoded',
      label: `decoded · the network, live (${n.layers}×${n.width} ${n.activation}${n.encoding === 'positional' ? `, positional ${n.frequencies}` : ''}; ${material.userData.mode})`,
      object: obj,
    });
    obj.userData = { geometry: quad.geometry, texture: material.userData.texture };
  } else {
    panes.push({
      name: 'decoded',
      label: `decoded · ${triangles(shape.decoded)}`,
      object: shape.decoded ? meshObject(await loadMesh(shape.decoded), shape.decoded) : null,
    });
  }
  return new SurfaceView(panes);
}

// ---------------------------------------------------------------------------------------------
// volumes: three orthogonal slices, original | decoded | difference, a gray window
const SLICE_VERT = 'varying vec2 vUv; void main() { vUv = position.xy * 0.5 + 0.5; gl_Position = vec4(position.xy, 0.0, 1.0); }';
const SLICE_FRAG = /* glsl */ `
precision highp usampler3D;
uniform usampler3D uVol, uOther;
uniform int uAxis, uMode;      // axis 0: z slice (y up, x right); 1: y slice (z up, x right); 2: x slice (z up, y right)
uniform vec3 uDims;            // x, y, z sizes
uniform vec3 uIndex;           // the three slice indices (x, y, z)
uniform vec2 uWindow;          // gray window, in [0, 1] units of the stored range
uniform float uDiffScale;      // difference shown at full color, same units
uniform bool uCross;
varying vec2 vUv;
void main() {
  ivec3 dims = ivec3(uDims);
  ivec3 p;
  vec2 cell;
  if (uAxis == 0) { p = ivec3(int(vUv.x * uDims.x), int(vUv.y * uDims.y), int(uIndex.z)); cell = vec2(uIndex.x, uIndex.y); }
  else if (uAxis == 1) { p = ivec3(int(vUv.x * uDims.x), int(uIndex.y), int(vUv.y * uDims.z)); cell = vec2(uIndex.x, uIndex.z); }
  else { p = ivec3(int(uIndex.x), int(vUv.x * uDims.y), int(vUv.y * uDims.z)); cell = vec2(uIndex.y, uIndex.z); }
  p = clamp(p, ivec3(0), dims - 1);
  float a = float(texelFetch(uVol, p, 0).r) / 65535.0;
  vec3 color;
  if (uMode == 2) {
    float b = float(texelFetch(uOther, p, 0).r) / 65535.0;
    float t = clamp((a - b) / max(uDiffScale, 1e-9), -1.0, 1.0);   // decoded - original
    color = t >= 0.0 ? mix(vec3(1.0), vec3(0.75, 0.1, 0.1), t) : mix(vec3(1.0), vec3(0.1, 0.3, 0.8), -t);
  } else {
    float g = clamp((a - uWindow.x) / max(uWindow.y - uWindow.x, 1e-9), 0.0, 1.0);
    color = vec3(g);
  }
  if (uCross) {
    vec2 here = uAxis == 0 ? vec2(p.x, p.y) : (uAxis == 1 ? vec2(p.x, p.z) : vec2(p.y, p.z));
    if (any(equal(here, cell))) color = mix(color, vec3(1.0, 0.8, 0.1), 0.35);
  }
  gl_FragColor = vec4(color, 1.0);
}`;

class VolumeView {
  constructor(item, textures, arrays) {
    this.orbit = false;
    this.item = item;
    this.arrays = arrays; // {decoded, original}: Uint16Array, x fastest
    const [dz, dy, dx] = item.dims;
    this.dims = [dx, dy, dz];
    this.index = [dx >> 1, dy >> 1, dz >> 1];
    const [lo, hi] = item.range, span = hi - lo;
    this.toUnit = (v) => (v - lo) / span;
    this.fromUnit = (u) => lo + u * span;
    this.window = item.window.slice();
    this.diffScale = item.diff_scale || 0;
    this.cross = true;
    this.modes = item.original ? ['original', 'decoded', 'difference'] : ['decoded'];
    this.scene = new THREE.Scene();
    this.camera = new THREE.OrthographicCamera(-1, 1, 1, -1, 0, 1);
    this.quad = new THREE.Mesh(new THREE.PlaneGeometry(2, 2));
    this.quad.frustumCulled = false;
    this.scene.add(this.quad);
    this.textures = textures;
    this.materials = [];
    for (const mode of this.modes)
      for (let axis = 0; axis < 3; axis++) {
        const m = new THREE.ShaderMaterial({
          uniforms: {
            uVol: { value: mode === 'original' ? textures.original : textures.decoded },
            uOther: { value: textures.original || textures.decoded },
            uAxis: { value: axis },
            uMode: { value: mode === 'difference' ? 2 : 0 },
            uDims: { value: new THREE.Vector3(dx, dy, dz) },
            uIndex: { value: new THREE.Vector3() },
            uWindow: { value: new THREE.Vector2() },
            uDiffScale: { value: 0 },
            uCross: { value: true },
          },
          vertexShader: SLICE_VERT,
          fragmentShader: SLICE_FRAG,
          depthTest: false,
          depthWrite: false,
        });
        this.materials.push({ mode, axis, material: m, rect: null });
      }
  }
  sliceSize(axis) {
    const [dx, dy, dz] = this.dims;
    return axis === 0 ? [dx, dy] : axis === 1 ? [dx, dz] : [dy, dz];
  }
  layout(stage) {
    const rows = this.modes.length, cellW = stage.width / 3, top = 26, cellH = stage.height / rows;
    stage.labels.replaceChildren();
    const axisName = ['z', 'y', 'x'];
    for (const p of this.materials) {
      const row = this.modes.indexOf(p.mode), [sw, sh] = this.sliceSize(p.axis);
      const s = Math.min((cellW - 8) / sw, (cellH - top - 4) / sh);
      const w = Math.max(1, Math.floor(sw * s)), h = Math.max(1, Math.floor(sh * s));
      const x = Math.floor(p.axis * cellW + (cellW - w) / 2), y = Math.floor(row * cellH + top + (cellH - top - h) / 2);
      p.rect = { x, y, w, h };
      p.label = el('div', { style: `left:${x}px; top:${y - 22}px` });
      stage.labels.append(p.label);
      p.axisName = axisName[p.axis];
    }
    this.updateLabels();
  }
  updateLabels() {
    const idx = { z: this.index[2], y: this.index[1], x: this.index[0] };
    for (const p of this.materials) if (p.label) p.label.textContent = `${p.mode} · ${p.axisName} = ${idx[p.axisName] * this.item.stride}`;
  }
  draw(stage) {
    const r = stage.renderer;
    r.setRenderTarget(null);
    r.setScissorTest(false);
    r.setViewport(0, 0, stage.width, stage.height);
    r.clear();
    r.setScissorTest(true);
    const w0 = this.toUnit(this.window[0]), w1 = this.toUnit(this.window[1]);
    for (const p of this.materials) {
      const { css } = stage.deviceRect(p.rect.x, p.rect.y, p.rect.w, p.rect.h);
      r.setViewport(...css);
      r.setScissor(...css);
      const u = p.material.uniforms;
      u.uIndex.value.set(...this.index);
      u.uWindow.value.set(w0, w1);
      u.uDiffScale.value = this.diffScale / (this.item.range[1] - this.item.range[0]);
      u.uCross.value = this.cross;
      this.quad.material = p.material;
      r.render(this.scene, this.camera);
    }
    r.setScissorTest(false);
    this.updateLabels();
  }
  // the voxel under a CSS point of the stage, or null
  pick(x, y) {
    for (const p of this.materials) {
      const R = p.rect;
      if (!R || x < R.x || y < R.y || x >= R.x + R.w || y >= R.y + R.h) continue;
      const u = (x - R.x) / R.w, v = 1 - (y - R.y) / R.h;
      const [sw, sh] = this.sliceSize(p.axis);
      const a = Math.min(sw - 1, Math.floor(u * sw)), b = Math.min(sh - 1, Math.floor(v * sh));
      const ix = p.axis === 2 ? this.index[0] : a;
      const iy = p.axis === 0 ? b : p.axis === 1 ? this.index[1] : a;
      const iz = p.axis === 0 ? this.index[2] : b;
      return { pane: p, ix, iy, iz };
    }
    return null;
  }
  valueAt(which, ix, iy, iz) {
    const arr = this.arrays[which];
    if (!arr) return null;
    const [dx, dy] = this.dims;
    return this.fromUnit(arr[(iz * dy + iy) * dx + ix] / 65535);
  }
  dispose() {
    for (const p of this.materials) p.material.dispose();
    this.quad.geometry.dispose();
    for (const t of Object.values(this.textures)) if (t) t.dispose();
  }
}

async function volumeTexture(item, id) {
  const bytes = await blobBytes(id);
  const [dz, dy, dx] = item.dims;
  if (bytes.byteLength !== 2 * dx * dy * dz) throw new Error(`volume data has ${bytes.byteLength} bytes, expected ${2 * dx * dy * dz}`);
  const arr = new Uint16Array(bytes.buffer, bytes.byteOffset, dx * dy * dz);
  const tex = new THREE.Data3DTexture(arr, dx, dy, dz);
  tex.format = THREE.RedIntegerFormat;
  tex.type = THREE.UnsignedShortType;
  tex.internalFormat = 'R16UI';
  tex.minFilter = tex.magFilter = THREE.NearestFilter;
  tex.unpackAlignment = 1;
  tex.needsUpdate = true;
  return { tex, arr };
}

// ---------------------------------------------------------------------------------------------
// thumbnails of a set: one small offscreen renderer, drawn as cards scroll into view
class Thumbnails {
  constructor(size = 128) {
    this.size = size;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(1);
    this.renderer.setSize(size, size, false);
    this.renderer.setClearColor(0xffffff, 1);
    this.camera = new THREE.PerspectiveCamera(CAMERA.fov, 1, 0.05, 100);
    placeCamera(this.camera, CAMERA);
    this.queue = [];
    this.busy = false;
    this.idle = Promise.resolve();
  }
  add(job) {
    this.queue.push(job);
    if (!this.busy) this.idle = this.pump();
  }
  async pump() {
    this.busy = true;
    try {
      while (this.queue.length) {
        const job = this.queue.shift();
        if (job.done) continue;
        job.done = true;
        await this.draw(job);
        status.thumbnails++;
        await new Promise((r) => setTimeout(r, 0));
      }
    } finally {
      this.busy = false;
    }
  }
  async draw({ entry, canvas }) {
    const ctx = canvas.getContext('2d');
    if (!entry) {
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = '#8a97a6';
      ctx.font = '14px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText('no surface', canvas.width / 2, canvas.height / 2);
      return;
    }
    const obj = meshObject(await loadMesh(entry), entry);
    const scene = new THREE.Scene();
    scene.add(obj);
    setView(this.camera, new THREE.Vector4(0, 0, this.size, this.size));
    this.renderer.render(scene, this.camera);
    ctx.drawImage(this.renderer.domElement, 0, 0, canvas.width, canvas.height);
    disposeObject(obj);
  }
}

// ---------------------------------------------------------------------------------------------
// the page: tabs (one per file), a side panel, the stage
const stage = new Stage();
let thumbs = null;
const side = document.getElementById('side');
const mainEl = document.getElementById('main');
let current = { item: -1, shape: -1, view: null, token: 0 };

function fileRows(item) {
  const ratio = item.original_bytes && item.bytes ? `${fmtNum(item.original_bytes / item.bytes, 3)}×` : null;
  return [
    ['file', item.file],
    ['codec', item.codec],
    ['bytes', fmtInt(item.bytes)],
    ['original', item.original_file ? `${item.original_file} (${fmtInt(item.original_bytes)} bytes)` : null],
    ['ratio (original ÷ file)', ratio],
  ];
}

function surfaceControls(live) {
  const wire = el('input', { type: 'checkbox', id: 'wireframe' });
  wire.addEventListener('change', () => {
    if (current.view && current.view.setWireframe) current.view.setWireframe(wire.checked);
    stage.request();
  });
  const box = el('div', { class: 'controls' },
    el('label', {}, wire, ' wireframe'),
    el('button', { text: 'reset view', onclick: () => stage.resetCamera() }));
  if (live) { // the network is evaluated per pixel: fewer pixels on a slow GPU
    const pick = el('select', { id: 'detail', title: 'pixels the network is evaluated at' },
      el('option', { value: '1', text: 'full resolution' }),
      el('option', { value: '0.5', text: '½ resolution' }),
      el('option', { value: '0.25', text: '¼ resolution' }));
    pick.value = String(stage.detail || 1);
    pick.addEventListener('change', () => { stage.detail = Number(pick.value); stage.setDetail(stage.detail); });
    box.append(pick);
  }
  return box;
}

async function openShape(itemIndex, shapeIndex) {
  const item = DATA.items[itemIndex];
  const shape = item.shapes[shapeIndex];
  const token = ++current.token;
  const view = await surfaceViewOfShape(shape, item.kind === 'implicit' ? item : null);
  if (token !== current.token) { view.dispose(); return; } // a later click won
  const wire = document.getElementById('wireframe');
  if (wire && view.setWireframe) view.setWireframe(wire.checked);
  current.view = view;
  current.shape = shapeIndex;
  status.shape = shapeIndex;
  await stage.show(view);
  if (item.kind === 'set') { // one line over the views (the side holds the gallery)
    const n = shape.numbers;
    const parts = [`${fmtInt(shape.bytes)} bytes${shape.own_bytes !== null ? ` (own ${fmtInt(shape.own_bytes)})` : ''}`];
    if (n && n.empty) parts.push('no surface decoded');
    else if (n) {
      parts.push(`Chamfer-p2s ${fmtNum(n.chamfer_p2s)}`, `F@0.01 ${fmtNum(n['f_score_0.01'], 3)}`);
      if (n['f_score_0.005'] !== undefined) parts.push(`F@0.005 ${fmtNum(n['f_score_0.005'], 3)}`);
      if (n.normal_consistency !== undefined) parts.push(`NC ${fmtNum(n.normal_consistency, 3)}`);
    }
    document.getElementById('shapebox').replaceChildren(
      el('b', { text: `${shapeIndex + 1}/${item.shapes.length} ${shape.name}` }), el('br'), parts.join(' · '));
  }
  const box = document.getElementById('shape-numbers');
  if (box) {
    box.replaceChildren(
      el('h3', { text: item.kind === 'set' ? `shape ${shapeIndex + 1} of ${item.shapes.length}: ${shape.name}` : 'quality' }),
      table([
        ['bytes (share)', item.kind === 'set' ? fmtInt(shape.bytes) : null],
        ['own bytes', item.kind === 'set' && shape.own_bytes !== null ? fmtInt(shape.own_bytes) : null],
        ['triangles, original', shape.original ? fmtInt(shape.original.faces) : null],
        ['triangles, decoded', item.kind === 'implicit' ? null : shape.decoded ? fmtInt(shape.decoded.faces) : 'none'],
        ...numberRows(shape.numbers),
      ]));
    const src = numberSource(shape.numbers);
    if (src) box.append(el('p', { class: 'note', text: src }));
    if (!shape.numbers && item.kind !== 'volume') box.append(el('p', { class: 'note', text: 'Give the original (nc3d view FILE --compare ORIGINAL) to see Chamfer-p2s and F-score.' }));
  }
  for (const c of document.querySelectorAll('.card')) c.classList.toggle('on', Number(c.dataset.index) === shapeIndex);
}

function buildGallery(itemIndex, item) {
  const grid = el('div', { class: 'gallery' });
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting) {
      const card = e.target;
      observer.unobserve(card);
      thumbs.add({ entry: item.shapes[Number(card.dataset.index)].decoded, canvas: card.querySelector('canvas') });
    }
  }, { root: side, rootMargin: '200px' });
  item.shapes.forEach((s, i) => {
    const n = s.numbers;
    const nums = n && !n.empty ? `CD ${fmtNum(n.chamfer_p2s, 3)} · F ${fmtNum(n['f_score_0.01'], 3)}` : n && n.empty ? 'no surface' : '';
    const card = el('button', { class: 'card', 'data-index': i, title: s.name, onclick: () => openShape(itemIndex, i).catch(fail) },
      el('canvas', { width: 128, height: 128 }),
      el('div', { class: 'name', text: s.name }),
      el('div', { class: 'nums', text: `${fmtInt(s.bytes)} B${nums ? ' · ' + nums : ''}` }));
    grid.append(card);
    observer.observe(card);
  });
  return grid;
}

function median(xs) {
  const v = xs.filter((x) => x !== null && x !== undefined && isFinite(x)).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : null;
}

async function showItem(index) {
  const item = DATA.items[index];
  current.item = index;
  status.item = index;
  for (const [i, b] of [...document.querySelectorAll('#tabs button')].entries()) b.classList.toggle('on', i === index);
  mainEl.classList.toggle('wide-side', item.kind === 'set');
  if (item.kind !== 'implicit' && (stage.detail || 1) !== 1) { stage.detail = 1; stage.setDetail(1); }
  side.replaceChildren(el('h2', { text: item.file }), table(fileRows(item)));
  if (item.kind === 'volume') {
    document.getElementById('shapebox').hidden = true;
    return showVolume(item);
  }
  if (item.kind === 'implicit') {
    const n = item.network;
    side.append(el('h3', { text: 'network' }), table([
      ['architecture', `${n.layers}×${n.width} ${n.activation}`],
      ['encoding', n.encoding === 'positional' ? `positional, ${n.frequencies} octaves` : 'none'],
      ['weights', fmtInt(n.parameters)],
      ['bits per weight', n.bits],
      ['surface error', item.surface_error !== null ? fmtNum(item.surface_error) : null],
    ]), el('p', { class: 'note', text: 'The decoded view is the stored network itself, sphere-traced in the browser (no mesh).' }));
  }
  if (item.kind === 'set') {
    const meas = item.shapes.map((s) => s.numbers).filter((n) => n && !n.empty);
    side.append(table([
      ['shapes', fmtInt(item.shapes.length)],
      ['shared bytes per shape', item.shared_bytes !== null && item.shared_bytes !== undefined ? fmtInt(item.shared_bytes) : null],
      ['median Chamfer-p2s', meas.length ? fmtNum(median(meas.map((n) => n.chamfer_p2s))) : null],
      ['median F@0.01', meas.length ? fmtNum(median(meas.map((n) => n['f_score_0.01'])), 3) : null],
    ]));
    const src = meas.length ? numberSource(meas[0]) : 'Give the originals (nc3d view FILE --compare FOLDER) to see Chamfer-p2s and F-score.';
    side.append(el('p', { class: 'note', text: src }));
  }
  side.append(surfaceControls(item.kind === 'implicit'));
  document.getElementById('shapebox').hidden = item.kind !== 'set';
  if (item.kind !== 'set') side.append(el('div', { id: 'shape-numbers' }));
  if (item.kind === 'set') {
    side.append(el('h3', { text: 'gallery (click to open)' }), buildGallery(index, item));
    document.onkeydown = (ev) => {
      if (current.item !== index || !['ArrowLeft', 'ArrowRight'].includes(ev.key)) return;
      const next = Math.max(0, Math.min(item.shapes.length - 1, current.shape + (ev.key === 'ArrowRight' ? 1 : -1)));
      if (next !== current.shape) openShape(index, next).catch(fail);
    };
  }
  await openShape(index, 0);
}

function slider(label, min, max, step, value, onInput, format = (v) => String(v)) {
  const input = el('input', { type: 'range', min, max, step, value });
  const out = el('output', { text: format(Number(value)) });
  input.addEventListener('input', () => {
    out.textContent = format(Number(input.value));
    onInput(Number(input.value));
  });
  const wrap = el('label', { class: 'slider' }, el('span', { text: label }), input, out);
  wrap.set = (v) => {
    input.value = v;
    out.textContent = format(Number(v));
  };
  return wrap;
}

async function showVolume(item) {
  const token = ++current.token;
  const dec = await volumeTexture(item, item.decoded);
  const org = item.original ? await volumeTexture(item, item.original) : null;
  if (token !== current.token) return;
  const view = new VolumeView(item, { decoded: dec.tex, original: org ? org.tex : null }, { decoded: dec.arr, original: org ? org.arr : null });
  current.view = view;
  const [lo, hi] = item.range, span = hi - lo, fmt = (v) => fmtNum(v, 4);
  const n = item.numbers;
  side.append(table([
    ['shape (z, y, x)', item.shape.join(' × ')],
    ['sample type', item.dtype],
    ['shown', item.stride > 1 ? `every ${item.stride}th voxel (${item.dims.join(' × ')})` : 'every voxel'],
    ['PSNR', n ? `${fmtNum(n.psnr)} dB` : null],
    ['MSE', n ? fmtNum(n.mse) : null],
  ]));
  const names = ['x', 'y', 'z'];
  const sliders = [2, 1, 0].map((a) => slider(`${names[a]} slice`, 0, view.dims[a] - 1, 1, view.index[a], (v) => { view.index[a] = v; stage.request(); }, (v) => String(v * item.stride)));
  const level = slider('level', lo, hi, span / 1000, (view.window[0] + view.window[1]) / 2, () => setWindow(), fmt);
  const width = slider('width', span / 1000, span, span / 1000, view.window[1] - view.window[0], () => setWindow(), fmt);
  function setWindow() {
    const c = Number(level.querySelector('input').value), w = Number(width.querySelector('input').value);
    view.window = [c - w / 2, c + w / 2];
    stage.request();
  }
  side.append(el('h3', { text: 'slices' }), ...sliders, el('h3', { text: 'window (gray levels)' }), level, width,
    el('div', { class: 'controls' }, el('button', {
      text: 'reset window', onclick: () => {
        level.set((item.window[0] + item.window[1]) / 2);
        width.set(item.window[1] - item.window[0]);
        setWindow();
      },
    })));
  if (item.original) {
    const maxDiff = Math.max(item.diff_max || 0, item.diff_scale || 0, span * 1e-6);
    side.append(el('h3', { text: 'difference (decoded − original)' }),
      slider('± scale', maxDiff / 1000, maxDiff, maxDiff / 1000, view.diffScale, (v) => { view.diffScale = v; stage.request(); }, fmt),
      el('p', { class: 'note', text: 'red: decoded above the original; blue: below; white: equal.' }));
  }
  const cross = el('input', { type: 'checkbox', checked: 'checked' });
  cross.addEventListener('change', () => { view.cross = cross.checked; stage.request(); });
  side.append(el('div', { class: 'controls' }, el('label', {}, cross, ' crosshair')),
    el('p', { class: 'note', text: 'Click a slice to move the other two there; the values under the pointer show at the bottom left.' }));
  const canvas = stage.canvas;
  canvas.onpointermove = (ev) => {
    if (current.view !== view) return;
    const r = canvas.getBoundingClientRect(), h = view.pick(ev.clientX - r.left, ev.clientY - r.top);
    if (!h) { stage.readout.textContent = ''; return; }
    const s = item.stride, vals = [`z ${h.iz * s}, y ${h.iy * s}, x ${h.ix * s}`];
    const o = view.valueAt('original', h.ix, h.iy, h.iz), d = view.valueAt('decoded', h.ix, h.iy, h.iz);
    if (o !== null) vals.push(`original ${fmt(o)}`);
    vals.push(`decoded ${fmt(d)}`);
    if (o !== null) vals.push(`difference ${fmt(d - o)}`);
    stage.readout.textContent = vals.join(' · ');
  };
  canvas.onclick = (ev) => {
    if (current.view !== view) return;
    const r = canvas.getBoundingClientRect(), h = view.pick(ev.clientX - r.left, ev.clientY - r.top);
    if (!h) return;
    view.index = [h.ix, h.iy, h.iz];
    sliders.forEach((s, i) => s.set(view.index[[2, 1, 0][i]]));
    stage.request();
  };
  await stage.show(view);
}

// test hooks ---------------------------------------------------------------------------------
api.showItem = async (i) => { await showItem(i); return status; };
api.openShape = async (i) => { await openShape(current.item, i); return status; };
// one pane of the current view alone, at a given size and camera: base64 RGBA, rows from the top
api.snapshot = async ({ pane = 'decoded', width = 256, height = 256, ...cam } = {}) => {
  const view = current.view;
  if (!view || !view.pane) throw new Error('the current view has no surface panes');
  return stage.snapshot(view.pane(pane).scene, { width, height, ...CAMERA, ...cam });
};
api.sdfMode = new URLSearchParams(location.hash.slice(1)).get('sdf') || 'auto'; // auto | const | texture

// start ----------------------------------------------------------------------------------------
async function start() {
  document.title = DATA.title;
  const gl = stage.renderer.getContext();
  if (!(gl instanceof WebGL2RenderingContext)) throw new Error('this viewer needs WebGL 2');
  if (DATA.items.some((it) => it.kind === 'set')) thumbs = new Thumbnails(128);
  const tabs = document.getElementById('tabs');
  if (DATA.items.length > 1)
    DATA.items.forEach((it, i) => tabs.append(el('button', { text: `${it.file} (${it.kind})`, onclick: () => showItem(i).catch(fail) })));
  const first = Number(new URLSearchParams(location.hash.slice(1)).get('item') || 0);
  await showItem(Math.min(Math.max(first, 0), DATA.items.length - 1));
  if (thumbs) {
    await new Promise((r) => setTimeout(r, 50)); // the observer's first report
    await thumbs.idle;
  }
  setReady();
}
start().catch(fail);
