# The production gateway (`npm run serve`) as a container image. See docs/serving.md.
FROM node:22-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Runtime dependencies only; install scripts off (node-llama-cpp's serves local mode only).
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY tsconfig.json ./
COPY shared ./shared
COPY edge ./edge

USER node
ENV HOST=0.0.0.0 PORT=8787 SLUICE_DRAIN_MS=10000
EXPOSE 8787
STOPSIGNAL SIGTERM
# Exec form, no shell and no npm in between: node is PID 1 and receives SIGTERM itself, drains,
# and exits 0. Give the platform a stop grace period a few seconds above SLUICE_DRAIN_MS.
CMD ["node", "--import", "tsx", "edge/runtime/node-main.ts"]
