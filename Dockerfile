# Build stage: compile TypeScript with the dev toolchain.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build

# Runtime stage: production dependencies and compiled code only, as a non-root user.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# the simulator's tokenizer (gpt-tokenizer, ~55 MB) is an optional dependency: not in the gateway image
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# the status page (/ui): its page and script; its libraries come from node_modules
COPY ui ./ui
RUN ln -s /app/dist/src/cli.js /usr/local/bin/brixgate && chmod +x /app/dist/src/cli.js
USER node
EXPOSE 8888
ENTRYPOINT ["brixgate"]
CMD ["--config", "/etc/brixgate/config.yaml"]
