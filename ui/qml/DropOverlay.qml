// Shown while a model folder is dragged over the window: a veil with what dropping will do.
import QtQuick
import QtQuick.Controls

Rectangle {
    color: Qt.rgba(palette.highlight.r, palette.highlight.g, palette.highlight.b, 0.18)
    border.color: palette.highlight
    border.width: 3
    Accessible.role: Accessible.StaticText
    Accessible.name: qsTr("Drop a model folder to inspect it")

    Label {
        anchors.centerIn: parent
        text: qsTr("Drop a model folder (or its config.json) to inspect it")
        font.pointSize: Qt.application.font.pointSize * 1.5
        font.bold: true
        padding: 16
        background: Rectangle { color: palette.window; radius: 8; opacity: 0.92 }
        Accessible.name: text
    }
}
