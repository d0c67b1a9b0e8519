#pragma once
// The browser side of the WebRTC tests: a WHEP client written as a real page would write it, run in headless
// Chromium. It offers to receive audio, plays the track into WebAudio and samples its level every 20 ms.

#include <string>
#include <vector>

namespace gpufleet::testing {

// Chromium switches for WebRTC in a headless test: real host candidates (not mDNS names, which the
// gateway's ICE agent cannot resolve) and WebAudio that runs without a user gesture.
inline std::vector<std::string> webrtc_browser_flags() {
  return {"--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns",
          "--use-fake-ui-for-media-stream"};
}

// JavaScript for the page: defines window.whep with
//   offer(channel, video)  creates the peer connection (with a data channel "speech" when `channel`, and a
//                      video transceiver that receives when `video`), gathers candidates, resolves to the
//                      offer's SDP
//   answer(sdp)        applies the gateway's answer
//   post(url, headers, channel, video)  offer(channel, video), POSTs it as application/sdp, answer();
//                      resolves to {status, location, body, offer, link} (link: the Link header)
//   postTrickle(url, headers)  offer() without waiting for candidates, POSTs it, applies the answer, then
//                      PATCHes each candidate to the session's Location as it is gathered (trickle ICE) and
//                      a=end-of-candidates last; resolves to {status, location, patches: [status, ...]}
//   send(text)         sends on the data channel once it is open (resolves when sent)
//   messages           [[ms, text], ...] received on the data channel
//   levels             [[ms since the page script ran, RMS], ...] of the received audio, every 20 ms
//   levelWindowMs      how much audio each level's RMS covers (the analyser's window, ending at its time)
//   firstAudible       ms at which the level first passed 0.02 (null until then)
//   state              the peer connection's connectionState
//   frames             [ms, width, height] of each video frame presented (requestVideoFrameCallback)
//   motion             [ms, cells] every 100 ms: the picture scaled to 64x64 grey, the mean absolute change
//                      since the last sample of each 4x4-pixel cell, 16x16 cells row by row
//   tracks             [kind, [stream id, ...]] of each track received (ontrack)
//   config             the RTCConfiguration that offer() and postTrickle() give their peer connection
//                      (ICE servers, iceTransportPolicy); {} unless the test sets it
//   selectedPair()     resolves to {local, remote}: the candidate types ("host", "srflx", "relay") of the
//                      pair ICE selected, from getStats(); null before one is selected
inline const char* kWhepClientScript = R"JS(
window.whep = {levels: [], firstAudible: null, state: 'new', t0: performance.now(), pc: null, messages: [],
  frames: [], motion: [], tracks: [], config: {}};
whep.now = () => performance.now() - whep.t0;
whep.watchVideo = (track) => {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  document.body.appendChild(video);
  video.play().catch(() => {});
  const onFrame = (now, meta) => {
    whep.frames.push([whep.now(), meta.width, meta.height]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  const canvas = document.createElement('canvas');
  canvas.width = 64;
  canvas.height = 64;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  let last = null;
  setInterval(() => {
    if (video.videoWidth === 0) return;
    context.drawImage(video, 0, 0, 64, 64);
    const rgba = context.getImageData(0, 0, 64, 64).data;
    const grey = new Float32Array(64 * 64);
    for (let i = 0; i < grey.length; ++i) grey[i] = (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3;
    if (last) {
      const cells = new Array(256).fill(0);
      for (let y = 0; y < 64; ++y)
        for (let x = 0; x < 64; ++x) cells[(y >> 2) * 16 + (x >> 2)] += Math.abs(grey[y * 64 + x] - last[y * 64 + x]) / 16;
      whep.motion.push([whep.now(), cells]);
    }
    last = grey;
  }, 100);
};
whep.offer = async (channel, video) => {
  const pc = new RTCPeerConnection(whep.config);
  whep.pc = pc;
  if (channel) {
    whep.channel = pc.createDataChannel('speech');
    whep.opened = new Promise((resolve) => { whep.channel.onopen = resolve; });
    whep.channel.onmessage = (event) => whep.messages.push([whep.now(), event.data]);
  }
  pc.onconnectionstatechange = () => { whep.state = pc.connectionState; };
  pc.addTransceiver('audio', {direction: 'recvonly'});
  if (video) pc.addTransceiver('video', {direction: 'recvonly'});
  pc.ontrack = whep.onTrack;
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    setTimeout(resolve, 3000);
  });
  return pc.localDescription.sdp;
};
whep.onTrack = (event) => {
  whep.tracks.push([event.track.kind, event.streams.map((s) => s.id)]);
  if (event.track.kind === 'video') return whep.watchVideo(event.track);
  const stream = event.streams[0] || new MediaStream([event.track]);
  // Chromium plays a remote track into WebAudio only while a media element also holds it.
  const element = new Audio();
  element.srcObject = stream;
  element.muted = true;
  element.play().catch(() => {});
  const context = new AudioContext();
  context.resume();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  whep.levelWindowMs = (1000 * analyser.fftSize) / context.sampleRate;
  setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const rms = Math.sqrt(sum / samples.length);
    const t = performance.now() - whep.t0;
    whep.levels.push([t, rms]);
    if (whep.firstAudible === null && rms > 0.02) whep.firstAudible = t;
  }, 20);
};
whep.postTrickle = async (url, headers) => {
  const pc = new RTCPeerConnection(whep.config);
  whep.pc = pc;
  pc.onconnectionstatechange = () => { whep.state = pc.connectionState; };
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.ontrack = whep.onTrack;
  const gathered = [];
  let gatheringDone;
  const done = new Promise((resolve) => { gatheringDone = resolve; });
  pc.onicecandidate = (event) => { if (event.candidate) gathered.push(event.candidate); else gatheringDone(); };
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription.sdp;
  const response = await fetch(url, {method: 'POST', headers: Object.assign({'Content-Type': 'application/sdp'}, headers || {}), body: offer});
  const body = await response.text();
  if (response.status !== 201) return {status: response.status, body};
  const location = response.headers.get('Location');
  await pc.setRemoteDescription({type: 'answer', sdp: body});
  const ufrag = offer.match(/a=ice-ufrag:([^\r\n]*)/)[1];
  const pwd = offer.match(/a=ice-pwd:([^\r\n]*)/)[1];
  const patch = async (lines) => (await fetch(location, {method: 'PATCH', headers: Object.assign({'Content-Type': 'application/trickle-ice-sdpfrag'}, headers || {}),
    body: 'a=ice-ufrag:' + ufrag + '\r\na=ice-pwd:' + pwd + '\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n' + lines})).status;
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 3000))]);
  const patches = [];
  for (const candidate of gathered) patches.push(await patch('a=mid:' + candidate.sdpMid + '\r\na=' + candidate.candidate + '\r\n'));
  patches.push(await patch('a=end-of-candidates\r\n'));
  return {status: 201, location, patches, candidatesInOffer: (offer.match(/a=candidate/g) || []).length};
};
whep.selectedPair = async () => {
  const stats = await whep.pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) return null;
  return {local: stats.get(pair.localCandidateId).candidateType, remote: stats.get(pair.remoteCandidateId).candidateType};
};
whep.answer = async (sdp) => { await whep.pc.setRemoteDescription({type: 'answer', sdp}); return true; };
whep.send = async (text) => { await whep.opened; whep.channel.send(text); return whep.now(); };
whep.post = async (url, headers, channel, video) => {
  const offer = await whep.offer(channel, video);
  const response = await fetch(url, {method: 'POST', headers: Object.assign({'Content-Type': 'application/sdp'}, headers || {}), body: offer});
  const body = await response.text();
  if (response.status === 201) await whep.answer(body);
  return {status: response.status, location: response.headers.get('Location'), body, offer,
    link: response.headers.get('Link')};
};
true
)JS";

}  // namespace gpufleet::testing
